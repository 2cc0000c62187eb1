"""The local engine: the supervisor process behind the ``local`` provider, one per project.

Started detached (``python -m agentform.runtime engine --dir DIR ...``) by the local provider when
absent, or by ``agentform engine start``. It owns, for one project directory and environment:

* the resources the provider registered (``resources.json``, rewritten atomically after every
  change so a restarted engine brings back exactly what ran);
* the bus: an embedded ``nats-server`` (:mod:`agentform.runtime.bus.server`, restarted on the same
  port if it dies) or an existing NATS, with the task stream, consumers and health bucket
  (:mod:`agentform.runtime.bus`; connecting and renewing it:
  :mod:`agentform.runtime.host.bus_link`);
* the runtime store the tasks are recorded in (:mod:`agentform.runtime.store`), claimed for the
  project, opened with the tables beside it, and submitted to (:mod:`.engine_store`);
* the agents' worker processes (:mod:`agentform.runtime.host.supervisor`; rolled out and back by
  :mod:`agentform.runtime.host.rollout`) and their health: a worker
  that stops heartbeating or stops making progress on its task is reported, then killed and
  restarted; tasks that exhaust their deliveries get a dead-letter record;
* the control API (:mod:`agentform.runtime.host.control`) on 127.0.0.1, guarded by a token file;
* the schedules (:mod:`agentform.runtime.scheduler`): fired by the engine holding the scheduler
  lease, through :meth:`Engine.fire_schedule`.

Only one engine runs per directory: an exclusive ``flock`` on ``engine.lock`` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import IO, Any

from agentform.contract import Address, AgentValue, ContractError, ScheduleValue, received
from agentform.runtime import bus
from agentform.runtime.a2a import A2AHost
from agentform.runtime.audit import AuditEvent
from agentform.runtime.bus import BusLayout
from agentform.runtime.bus.auth import BusUsers
from agentform.runtime.bus.server import NatsServer, free_port
from agentform.runtime.errors import EngineError
from agentform.runtime.host import (
    admission,
    approvals,
    bus_link,
    health,
    report,
    retention,
    rollout,
)
from agentform.runtime.host.callers import Caller
from agentform.runtime.host.engine_store import EngineStore
from agentform.runtime.host.files import (
    EngineFiles,
    ordered,
    resolve_store_url,
    write_atomic,
)
from agentform.runtime.host.supervisor import AgentGroup
from agentform.runtime.scheduler import Schedules
from agentform.runtime.store import RuntimeStore, StoreError
from agentform.runtime.store.approvals import Approval, ApprovalBook, Decided
from agentform.runtime.store.audit import AuditLog
from agentform.runtime.store.breakers import BreakerBook
from agentform.runtime.store.memory.embeddings import EmbeddingsUnavailable
from agentform.runtime.store.memory.service import MemoryStoreError
from agentform.runtime.store.memory.stores import MemoryStores
from agentform.runtime.store.ratelimits import Limiter

__all__ = ["Engine", "EngineError", "EngineFiles", "resolve_store_url"]

log = logging.getLogger("agentform.engine")


class Engine(EngineStore):
    def __init__(self, workdir: Path, *, project: str, base_dir: Path) -> None:
        self.files = EngineFiles(workdir)
        self.project = project
        self.base_dir = Path(base_dir).resolve()
        self.resources: dict[str, dict[str, Any]] = {}
        self.secrets: dict[str, str] = {}  # never written anywhere
        self.groups: dict[str, AgentGroup] = {}
        self.nats_server: NatsServer | None = None
        self.nc: bus.Connection | None = None
        self.layout = BusLayout(project=project)
        self.bus_url: str | None = None
        self.store: RuntimeStore | None = None
        self.store_url: str | None = None
        self.token = ""
        self.api_port = 0
        self.started = time.time()
        self.stopping = asyncio.Event()
        self.notes: list[str] = []
        self._lock_file: IO[str] | None = None
        self.mutex = asyncio.Lock()
        self.closing = False
        self.a2a = A2AHost(self)  # every agent's A2A server
        self.memories = MemoryStores(self.note)  # schema, sweeps and usage of memory stores
        self.children_checked = 0.0
        self.approvals: ApprovalBook | None = None  # held calls, in the runtime store
        self.audit_log: AuditLog | None = None  # the hash-chained audit log, there too
        self.breakers: BreakerBook | None = None  # agents' open circuit breakers, there too
        self.bus_users: BusUsers | None = None  # the embedded bus's users (bus_link)
        self.limiter: Limiter | None = None  # rate limits, counted in the runtime store
        self._agents: dict[str, tuple[Mapping[str, Any], AgentValue]] = {}  # typed, by values
        self.schedules = Schedules(
            project, link=lambda: (self.nc, self.layout), submit=self.fire_schedule
        )

    # -- life cycle -------------------------------------------------------------------------

    def acquire(self) -> None:
        """Take the one-engine-per-directory lock or raise naming the engine that holds it."""
        self.files.dir.mkdir(parents=True, exist_ok=True)
        handle = self.files.lock.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            holder = "another process"
            with contextlib.suppress(OSError, ValueError, KeyError):
                holder = f"pid {json.loads(self.files.info.read_text())['pid']}"
            raise EngineError(
                f"an engine already runs for {self.files.dir} ({holder}); use it, or stop it with"
                " 'agentform engine stop'",
                409,
            ) from None
        self._lock_file = handle

    async def start(self, api_port: int = 0) -> None:
        self.acquire()
        self.token = secrets.token_urlsafe(32)
        write_atomic(self.files.token, self.token, 0o600)
        self.api_port = api_port or free_port()
        if self.files.resources.exists():
            try:
                saved = json.loads(self.files.resources.read_text())
            except (OSError, ValueError) as exc:
                raise EngineError(f"{self.files.resources} is damaged ({exc}); remove it") from exc
            for address in ordered(saved):
                await self.put(address, saved[address], persist=False)
        self.write_info()

    def write_info(self) -> None:
        info = {
            "pid": os.getpid(),
            "project": self.project,
            "base_dir": str(self.base_dir),
            "api": f"http://127.0.0.1:{self.api_port}",
            "bus_url": self.bus_url,
            "nats_pid": self.nats_server.pid if self.nats_server else None,
            "nats_port": self.nats_server.port if self.nats_server else None,
            "store_url": self.store_url,
            "started_at": self.started,
        }
        write_atomic(self.files.info, json.dumps(info, indent=2))

    async def shutdown(self) -> None:
        self.closing = True  # no supervision pass may restart what is being stopped
        await self.schedules.stop()  # the lease handed back: a standby takes over at once
        await asyncio.gather(*(g.stop_all() for g in self.groups.values()))
        self.groups.clear()
        await self.a2a.stop()
        await bus_link.close_bus(self)
        self._close_store()
        with contextlib.suppress(OSError):
            self.files.info.unlink()
        self.stopping.set()

    # -- resources --------------------------------------------------------------------------

    async def put(
        self,
        address: str,
        values: Mapping[str, Any],
        *,
        persist: bool = True,
        secrets: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Create or update one resource; returns what is observed afterwards.

        ``secrets`` are the values of the secrets the resource references, from the environment
        of the apply that sends them; they are kept in memory only (values carry fingerprints).
        """
        try:
            parsed = Address.parse(address)
            # the process boundary: what planning sent must be the contract's value of its kind
            value = received(address, values)
        except (ValueError, ContractError) as exc:
            raise EngineError(str(exc), 400) from None
        kind, name = parsed.kind, parsed.name
        self.secrets.update(secrets or {})
        async with self.mutex:
            if address == "runtime.bus":
                await bus_link.set_bus(self, values)
            elif address == "runtime.store":
                await self._set_store(values)
            elif kind == "agent" and (self.nc is None or self.store is None):
                raise EngineError(
                    f"{address} needs the bus and the store; create runtime.bus and"
                    " runtime.store first",
                    409,
                )
            elif kind == "memory":
                try:
                    await self.memories.put(name, values, self.store_url)
                except EmbeddingsUnavailable as exc:
                    raise EngineError(str(exc), 422) from None
                except MemoryStoreError as exc:
                    raise EngineError(f"{address}: {exc}", 503) from None
            elif isinstance(value, ScheduleValue):
                await self.schedules.put(name, value)
            previous = self.resources.get(address)
            self.resources[address] = dict(values)
            if kind == "agent":  # its workers' bus user, before any of them connects
                bus_link.sync_users(self)
            if kind == "agent":
                await bus.ensure_agent(self.nc.jetstream(), self.layout, name)  # type: ignore[union-attr]
            before = {name: g.config.config_hash for name, g in self.groups.items()}
            rollout.reconfigure(self)
            changed = [n for n, g in self.groups.items() if before.get(n) != g.config.config_hash]
            if persist:
                self.persist()
        await self.a2a.sync()
        if persist and changed:  # an agent, or a model or tool agents use, changed: roll out
            try:
                await asyncio.gather(*(rollout.rolled_out(self, n) for n in changed))
            except EngineError:
                await rollout.roll_back(self, address, previous)
                raise
        return self.observe(address) or {}

    async def delete(self, address: str) -> None:
        retired: AgentGroup | None = None
        async with self.mutex:
            if address not in self.resources:
                return
            kind, name = Address.parts(address)
            if address in ("runtime.bus", "runtime.store") and any(
                a.startswith("agent.") for a in self.resources
            ):
                raise EngineError(f"{address} is still used by agents; delete them first", 409)
            if kind == "memory":
                try:
                    await self.memories.delete(name)
                except MemoryStoreError as exc:
                    raise EngineError(f"{address}: {exc}", 503) from None
            del self.resources[address]
            if kind == "schedule":
                await self.schedules.delete(name)
            if kind == "agent":
                bus_link.sync_users(self)
            if kind == "agent" and name in self.groups:
                retired = self.groups.pop(name)
            if address == "runtime.bus":
                await bus_link.close_bus(self)
                self.bus_url = None
            if address == "runtime.store" and self.store is not None:
                self._close_store()
                self.store_url = None
            rollout.reconfigure(self)
            self.persist()
            if not self.resources:
                log.info("nothing left to run; the engine stops")
                self.closing = True  # no supervision pass may restore engine.json now
                with contextlib.suppress(OSError):
                    # at once, not in shutdown: a read right after this delete must find no
                    # engine rather than a dying one (that is a retryable error for the provider)
                    self.files.info.unlink()
                self.stopping.set()
        await self.a2a.sync()
        if retired is not None:
            # outside the lock: agents deleted in parallel stop their workers in parallel
            await retired.stop_all()
            if self.nc is not None and self.nc.is_connected:
                await bus.remove_agent(self.nc.jetstream(), self.layout, retired.agent)

    def observe(self, address: str) -> dict[str, Any] | None:
        return report.observe(self, address)

    # -- what the engine's parts and its A2A servers see (EngineView, EngineGateway) ---------

    @property
    def workdir(self) -> Path:
        return self.files.dir

    def agent(self, name: str) -> AgentValue | None:
        values = self.resources.get(f"agent.{name}")
        if values is None:
            return None
        cached = self._agents.get(name)
        if cached is not None and cached[0] is values:  # the values it was parsed from
            return cached[1]
        value = received(f"agent.{name}", values)
        assert isinstance(value, AgentValue)
        self._agents[name] = (values, value)
        return value

    async def decide_approval(
        self, task_id: str, decision: Decided, *, subject: str, note: str = ""
    ) -> Approval:
        return await approvals.decide_for_task(self, task_id, decision, subject=subject, note=note)

    async def admit(self, agent: str, caller: str, *, channel: str) -> None:
        await admission.admit(self, agent, caller, channel=channel)

    async def waiting_on(self, task_id: str) -> Approval | None:
        return await approvals.pending_for(self, task_id)

    async def answer_question(self, task_id: str, text: str, *, subject: str) -> Approval:
        return await approvals.answer(self, task_id, text, subject=Caller(subject))

    def config_version(self, agent: str) -> str:
        group = self.groups.get(agent)
        return group.config.config_hash[:12] if group is not None else "0"

    async def watch(
        self, task_id: str, on_event: Callable[[], Awaitable[None]]
    ) -> Callable[[], Awaitable[None]] | None:
        if self.nc is None or not self.nc.is_connected:
            return None
        return await bus.watch_events(self.nc, self.layout, task_id, on_event)

    def persist(self) -> None:
        write_atomic(self.files.resources, json.dumps(self.resources, indent=1, sort_keys=True))
        self.write_info()

    async def fire_schedule(self, name: str, agent: str, text: str) -> str:
        """Submit a schedule's task as any other (its agent's rate limit, content filters, the
        audit record) with caller ``schedule:NAME``; returns the task's id."""
        caller = f"schedule:{name}"
        await admission.admit(self, agent, caller, channel="schedule")
        task = await self.submit(agent, text, caller=caller, channel="schedule")
        return task.id

    # -- health -----------------------------------------------------------------------------

    async def supervise(self) -> None:
        """Every second: bus alive, heartbeats read, groups reconciled, files still there."""
        while not self.stopping.is_set():
            try:
                await self._tick()
            except Exception:
                log.exception("supervision pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), 1.0)

    async def _tick(self) -> None:
        if self.closing:
            return
        if self.nats_server is not None and not self.nats_server.running():
            self.note(f"nats-server (port {self.nats_server.port}) exited; restarting it")
            await asyncio.to_thread(self.nats_server.start)
            self.write_info()
        if not self.files.info.exists() or not self.files.token.exists():
            self.note(f"{self.files.dir} was deleted while running; restoring the engine's files")
            if self.nats_server is not None and not self.files.nats.exists():
                await bus_link.renew_bus(self)  # first: clients find the engine once it works again
            write_atomic(self.files.token, self.token, 0o600)
            self.persist()
        await health.check_heartbeats(self)
        for group in list(self.groups.values()):
            await group.reconcile()
        await health.expire_children(self)
        await approvals.expire(self)
        await retention.prune_audit(self)
        await retention.prune_tasks(self)
        await self.memories.sweep_if_due()
        await self.memories.backfill()

    async def audit(self, event: AuditEvent) -> None:
        """Append one record to the audit log (nothing while no store is set up); a failure
        is logged, never raised: the action it records has happened."""
        audit_log = self.audit_log
        if audit_log is None:
            return
        try:
            await asyncio.to_thread(audit_log.append, [event])
        except StoreError as exc:
            log.error("could not audit %s by %s: %s", event.kind, event.actor, exc)

    def note(self, text: str) -> None:
        log.warning(text)
        self.notes = [*self.notes[-49:], f"{time.strftime('%H:%M:%S')} {text}"]

    def status(self) -> dict[str, Any]:
        return report.status(self)
