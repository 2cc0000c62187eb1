"""Worker supervision: the processes of each agent, restarts with backoff, crash loops, rollouts.

Owns, for the local engine, the set of worker processes per agent: ``replicas`` processes of
``python -m agentform.runtime worker``, each restarted with exponential backoff when it exits and
reported as crash-looping after :data:`CRASH_LOOP_AFTER` quick exits in a row; rolling updates
(new workers for a new configuration start, and the old ones are stopped only once the new ones
heartbeat); and killing workers the health check finds hung. Called by
:mod:`agentform.runtime.host.engine`; the workers' own behaviour lives in
:mod:`agentform.runtime.worker.process`. A worker is forked by the engine's fork server
(:mod:`agentform.runtime.host.forks`, the runtime's modules already imported) when there is one,
and started as a new interpreter otherwise; both are waited for, signalled and killed alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentform.runtime.host.forks import ForkedProcess, ForkError, Forks
from agentform.runtime.worker.config import WorkerConfig

__all__ = ["AgentGroup", "Replica", "WorkerProcess"]

WorkerProcess = asyncio.subprocess.Process | ForkedProcess

log = logging.getLogger("agentform.engine")
CRASH_LOOP_AFTER = 5  # quick exits in a row before an agent is reported crash-looping
QUICK_EXIT = 10.0  # seconds: a worker that lived less than this, never ready, "crashed at start"
BACKOFF_FIRST = 0.2
BACKOFF_MAX = 30.0
STOP_GRACE = 10.0


@dataclass
class Replica:
    """One worker slot: the process in it now, and how often it had to be restarted."""

    slot: int
    config_hash: str
    worker_id: str = ""
    process: WorkerProcess | None = None
    started_at: float = 0.0
    ready_after: float | None = None  # seconds from its start to its first ready heartbeat
    restarts: int = 0
    quick_exits: int = 0
    last_exit: int | None = None
    next_start: float = 0.0
    ready: bool = False  # a "ready" heartbeat seen for this process
    heard_at: float = 0.0  # when its last heartbeat (of any state) was seen
    retired: bool = False

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "worker": self.worker_id,
            "pid": self.process.pid if self.process else None,
            "alive": self.alive,
            "ready": self.ready,
            "ready_after": self.ready_after,
            "forked": isinstance(self.process, ForkedProcess),
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "crash_looping": self.quick_exits >= CRASH_LOOP_AFTER,
            "config_hash": self.config_hash,
        }


@dataclass
class AgentGroup:
    """The replicas of one agent, converging on ``replicas`` workers running ``config``."""

    agent: str
    config: WorkerConfig
    replicas: int
    workdir: Path
    members: list[Replica] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    # secret values handed over by apply (in memory only), added to the workers' environment
    secret_env: dict[str, str] = field(default_factory=dict)
    # called with (agent, worker id) the moment a worker process ends, before it is restarted
    on_exit: Callable[[str, str], Awaitable[None]] | None = None
    # the engine's supervision pass and an apply waiting for a rollout both reconcile
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # the engine's fork server (None: every worker is a new interpreter)
    forks: Forks | None = None
    # set whenever a worker of the group becomes ready or ends: a rollout waits on it
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    _watchers: set[asyncio.Task[None]] = field(default_factory=set)
    stopped: bool = False

    def config_path(self, config_hash: str) -> Path:
        return self.workdir / "workers" / f"{self.agent}-{config_hash[:16]}.json"

    def log_path(self) -> Path:
        return self.workdir / "logs" / f"{self.agent}.log"

    def note(self, text: str) -> None:
        log.warning("agent %s: %s", self.agent, text)
        self.events = [*self.events[-49:], f"{time.strftime('%H:%M:%S')} {text}"]

    async def reconcile(self) -> None:
        """One supervision pass: start, restart, roll out and retire as needed."""
        async with self.lock:
            if self.stopped:  # deleted or shutting down: an exit must not start anything
                return
            await self._reconcile()

    async def _reconcile(self) -> None:
        now = time.monotonic()
        current = self.config.config_hash
        for replica in self.members:
            if replica.process is not None and replica.process.returncode is not None:
                self._exited(replica, now)
        # retire surplus and outdated replicas once enough current ones are ready
        fresh = [r for r in self.members if r.config_hash == current and not r.retired]
        stale = [r for r in self.members if r.config_hash != current and not r.retired]
        for slot in range(len(fresh), self.replicas):
            self.members.append(Replica(slot=slot, config_hash=current))
        fresh = [r for r in self.members if r.config_hash == current and not r.retired]
        for surplus in fresh[self.replicas :]:
            surplus.retired = True
        ready = sum(1 for r in fresh[: self.replicas] if r.ready and r.alive)
        if stale and (ready >= min(self.replicas, len(stale)) or self.replicas == 0):
            for old in stale:
                old.retired = True
        for replica in self.members:
            if replica.retired:
                await self._stop(replica)
            elif not replica.alive and now >= replica.next_start:
                await self._start(replica)
        self.members = [r for r in self.members if not (r.retired and not r.alive)]

    def _exited(self, replica: Replica, now: float) -> None:
        assert replica.process is not None
        code = replica.process.returncode
        replica.process = None
        was_ready, replica.ready = replica.ready, False
        if replica.retired:
            return
        lived = now - replica.started_at
        replica.last_exit = code
        replica.restarts += 1
        # crashed at start: it never said it was ready. One that came up and was then killed (a
        # node's OOM killer, an operator, the chaos suite) or died on a task started fine: it
        # is replaced at once, not backed off as if its configuration were broken
        started = was_ready or lived >= QUICK_EXIT
        replica.quick_exits = 0 if started else replica.quick_exits + 1
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, replica.quick_exits - 1))
        if started and lived < QUICK_EXIT:
            delay = BACKOFF_FIRST  # a short pause, not a tight loop, if it dies again at once
        elif started:
            delay = 0.0  # a worker that ran for a while is replaced in this same pass
        replica.next_start = now + delay
        state = " (crash-looping)" if replica.quick_exits >= CRASH_LOOP_AFTER else ""
        self.note(
            f"worker {replica.worker_id} exited with code {code} after {lived:.1f}s;"
            f" restarting in {replica.next_start - now:.1f}s{state}"
        )

    async def _start(self, replica: Replica) -> None:
        path = self.config_path(replica.config_hash)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(self.config.to_json())
            tmp.replace(path)
        self.log_path().parent.mkdir(parents=True, exist_ok=True)
        replica.worker_id = f"{self.agent}-{replica.slot}-{uuid.uuid4().hex[:6]}"
        env = {
            **os.environ,
            **self.secret_env,
            "PYTHONUNBUFFERED": "1",
            "AGENTFORM_ENGINE_PID": str(os.getpid()),
        }
        replica.ready, replica.ready_after, replica.heard_at = False, None, 0.0
        replica.started_at = time.monotonic()
        replica.process = await self._fork(path, replica.worker_id, env)
        if replica.process is None:
            with self.log_path().open("ab") as out:
                replica.process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "agentform.runtime",
                    "worker",
                    "--config",
                    str(path),
                    "--id",
                    replica.worker_id,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=out,
                    stderr=out,
                    cwd=self.config.base_dir,
                    env=env,
                )
        watcher = asyncio.create_task(self._watch(replica.worker_id, replica.process))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        log.info(
            "agent %s: started worker %s (pid %d%s)",
            self.agent,
            replica.worker_id,
            replica.process.pid,
            ", forked" if isinstance(replica.process, ForkedProcess) else "",
        )

    async def _fork(self, path: Path, worker_id: str, env: dict[str, str]) -> ForkedProcess | None:
        """The worker forked by the fork server, or None: start it as a new process."""
        server = await self.forks.server() if self.forks is not None else None
        if server is None:
            return None
        try:
            return await server.spawn(
                config=path,
                worker=worker_id,
                cwd=self.config.base_dir,
                env=env,
                log_path=self.log_path(),
            )
        except ForkError as exc:
            self.note(f"could not fork worker {worker_id} ({exc}); starting it as a new process")
            return None

    async def _watch(self, worker_id: str, process: WorkerProcess) -> None:
        """React to an exit at once, not at the next pass: its tasks are waiting."""
        await process.wait()
        if self.on_exit is not None:
            try:
                await self.on_exit(self.agent, worker_id)
            except Exception:
                log.exception("handing back the tasks of worker %s failed", worker_id)
        await self.reconcile()
        self.changed.set()  # after the pass: a rollout sees the exit counted

    async def _stop(self, replica: Replica) -> None:
        process = replica.process
        if process is None or process.returncode is not None:
            return
        log.info(
            "agent %s: stopping worker %s (pid %d)", self.agent, replica.worker_id, process.pid
        )
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_GRACE)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    def kill(self, worker_id: str, reason: str) -> None:
        """Kill a hung worker; the next pass restarts it."""
        for replica in self.members:
            if replica.worker_id == worker_id and replica.alive:
                assert replica.process is not None
                self.note(f"worker {worker_id} {reason}; killing it")
                with contextlib.suppress(ProcessLookupError):
                    replica.process.kill()

    async def stop_all(self) -> None:
        self.stopped = True
        for replica in self.members:
            replica.retired = True
        await asyncio.gather(*(self._stop(r) for r in self.members))
        self.members = []

    def heard(self, worker_id: str) -> None:
        """A heartbeat of ``worker_id`` arrived: it is alive, even while still starting."""
        for replica in self.members:
            if replica.worker_id == worker_id and replica.alive:
                replica.heard_at = time.monotonic()

    def mark_ready(self, worker_id: str) -> None:
        for replica in self.members:
            if replica.worker_id == worker_id and replica.alive:
                if not replica.ready:
                    replica.ready_after = round(time.monotonic() - replica.started_at, 4)
                    self.changed.set()
                replica.ready = True
                replica.quick_exits = (
                    0 if time.monotonic() - replica.started_at > QUICK_EXIT else replica.quick_exits
                )

    def running(self) -> int:
        """Workers that run the current configuration and heartbeat."""
        return sum(
            1
            for r in self.members
            if r.alive and r.ready and not r.retired and r.config_hash == self.config.config_hash
        )

    def status(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "replicas": self.replicas,
            "running": self.running(),
            "config_hash": self.config.config_hash,
            "crash_looping": any(r.quick_exits >= CRASH_LOOP_AFTER for r in self.members),
            "restarts": sum(r.restarts for r in self.members),
            "workers": [r.to_dict() for r in self.members],
            "events": list(self.events[-10:]),
        }
