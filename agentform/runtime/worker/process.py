"""The worker process: one replica of one agent, pulling tasks from JetStream and running them.

Started by the local engine as ``python -m agentform.runtime worker --config FILE --id ID``.
Owns the life of a task message: take it from the agent's durable pull consumer (shared by the
replicas), keep it from being redelivered with ``in_progress()`` while the agent loop
(:mod:`agentform.runtime.worker.loop`) runs, record the outcome in the store, then ``ack``. A
worker that
dies before the ack leaves the message to be redelivered to another replica (or to itself after
the engine restarts it), which replays the task from its records. A task whose message keeps
coming back is given up after ``max_deliver`` attempts with a dead-letter record.

Also heartbeats into the JetStream KV bucket (what it runs, when it last made progress) so the
engine can tell a live worker from a hung one (:mod:`agentform.runtime.worker.liveness`), and
exits when its engine is gone. What it publishes (events, woken parents, delegated children)
is :mod:`.telling`'s; a task waiting for its conversation's turn is :mod:`.turns`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from pathlib import Path

from agentform.runtime.bus import BusMessage, Connection, TaskMessage, connect
from agentform.runtime.memory.agent import open_agent_memory
from agentform.runtime.memory.tools import CombinedTools
from agentform.runtime.policy.breaker import Breaker
from agentform.runtime.policy.budgets import Budgets
from agentform.runtime.policy.decision import PolicyDecisionPoint
from agentform.runtime.policy.filters import ContentFilters, MissingFilter
from agentform.runtime.policy.holding import Holds
from agentform.runtime.store import RuntimeStore, StoreError, TaskStatus
from agentform.runtime.store.approvals import ApprovalBook
from agentform.runtime.store.breakers import BreakerBook
from agentform.runtime.store.ratelimits import Limiter
from agentform.runtime.tools.agent_toolbox import open_toolbox, with_locks
from agentform.runtime.worker.config import WorkerConfig
from agentform.runtime.worker.delegation import Delegates, depth_limit
from agentform.runtime.worker.inbound import Inbound
from agentform.runtime.worker.liveness import Liveness
from agentform.runtime.worker.loop import AgentLoop, Limits
from agentform.runtime.worker.sensitive import MissingValue, Sensitive
from agentform.runtime.worker.turns import Turns

__all__ = ["USER_UMASK", "WorkerConfig", "run_worker"]

log = logging.getLogger("agentform.worker")
USER_UMASK = "AGENTFORM_USER_UMASK"  # the umask the engine was started with, for its workers
# a worker with fewer than an eighth of its slots free waits this long for more before it pulls
# tasks: at full load, one pull a completion cost a bus round trip a task (issue 19)
REFILL_LINGER_S = 0.005


def _secret(name: str) -> str | None:
    return os.environ.get(name)


class Worker(Turns):
    """One replica of one agent: pulls its tasks and runs them until told to stop."""

    def __init__(self, config: WorkerConfig, worker_id: str) -> None:
        self.config = config
        self.id = worker_id
        self.layout = config.layout
        self.stopping = asyncio.Event()
        self.live = Liveness(config, worker_id)
        self.store: RuntimeStore | None = None
        self.waiting = 0  # messages held only to wait for their conversation's turn
        self.nc: Connection | None = None
        # the engine says who it is: a worker started by an engine that died a moment earlier
        # already has init as its parent, and must notice too
        self.parent = int(os.environ.get("AGENTFORM_ENGINE_PID") or os.getppid())
        # the agent's bus user (the engine's embedded server checks it); taken out of the
        # environment at once, so no tool server this worker starts ever inherits it
        self.bus_user = os.environ.pop("AGENTFORM_BUS_USER", None)
        self.bus_password = os.environ.pop("AGENTFORM_BUS_PASSWORD", None)
        self.inbound = Inbound(config)  # tasks programs publish on the bus: who, and how often
        self.limiter: Limiter | None = None  # models' limits, budgets

    async def run(self) -> None:
        from agentform.runtime.models import build_model

        config = self.config
        base_dir = Path(config.base_dir)
        watchdog = asyncio.create_task(self._watch_parent())
        store = self.store = RuntimeStore(config.store_url)
        agent = config.values
        breaker = agent.circuit_breaker
        budgets = Budgets(agent.budgets, None)
        if budgets or any(
            m.limits.requests_per_minute or m.limits.tokens_per_minute
            for m in config.models.values()
        ):  # a model's limits and the budgets are counted with every replica's
            # counted in writes shared with the store's other writes, not on threads
            self.limiter = Limiter(config.store_url, store=store)
        model = build_model(
            agent.model, config.models, base_dir=base_dir, secret=_secret, limiter=self.limiter
        )
        fallback = None  # what a tripped breaker moves a task on to (on_trip: fallback_model)
        fallbacks = config.models[agent.model].fallback if agent.model in config.models else []
        if breaker is not None and breaker.on_trip == "fallback_model" and fallbacks:
            fallback = build_model(
                fallbacks[0], config.models, base_dir=base_dir, secret=_secret, limiter=self.limiter
            )
        sensitive = Sensitive.of(agent, config.tools, os.environ)
        toolbox = open_toolbox(
            sensitive.tools(config.tools), base_dir=base_dir, secret=_secret, log=log
        )
        memory = open_agent_memory(config.store_url, config.memory, config.agent, model)
        policy = PolicyDecisionPoint(config.agent, config.policies, agent.default_effect or "allow")
        approvals = ApprovalBook(config.store_url)
        self.nc = self.live.nc = await connect(
            config.bus_url, name=self.id, user=self.bus_user, password=self.bus_password
        )
        try:
            # heartbeats from here on say "starting": a rollout waits for a worker that starts
            # its tool servers slowly, and gives up on one that stopped showing life
            beat = asyncio.create_task(self.live.heartbeat(self.stopping))
            await toolbox.start()
            tools = with_locks(toolbox, config.tools, self.nc.jetstream(), config.layout.leases)
            if memory is not None:
                tools = CombinedTools(tools, memory.tools())
            loop = AgentLoop(
                store=store,
                model=model,
                tools=tools,
                instructions=agent.instructions,
                limits=Limits.of(agent.limits, agent.budgets),
                notify=self._notify,
                delegates=Delegates(
                    agents=dict(config.delegates),
                    max_depth=depth_limit(agent.limits, agent.budgets),
                    submit=self._submit_child,
                ),
                memory=memory,
                policy=policy,
                holds=Holds(approvals, policy),
                # unsafe calls a crash left unknown are asked of a human, not failed
                ask_on_unknown=frozenset(
                    name
                    for name, tool in config.tools.items()
                    if tool.on_unknown_outcome == "ask_human"
                ),
                ask_user=agent.ask_user,
                sensitive=sensitive,
                filters=ContentFilters.of(agent.filters, config.filters),
                breaker=Breaker(
                    config.agent,
                    breaker,
                    store=store,
                    book=BreakerBook(config.store_url)
                    if breaker is not None and breaker.max_calls_per_minute is not None
                    else None,
                ),
                fallback=fallback,
                budgets=Budgets(agent.budgets, self.limiter, store=store) if budgets else None,
            )
            js = self.nc.jetstream()
            sub = await js.pull_subscribe_bind(
                durable=self.layout.consumer(config.agent), stream=self.layout.stream
            )
            # what the worker made to start (modules, its config, the tools' schemas) lives as
            # long as it does: moved out of the collector's generations, a collection scans only
            # what tasks made (profile_tools' tasks at 256 in flight: 147 to 98 us of CPU a
            # task without a tool call, 272 to 215 with one)
            gc.freeze()
            await self.live.ready()  # at once: a rollout waits for this beat
            keep_alive = asyncio.create_task(self.live.keep_alive())
            log.info(
                "worker %s of agent %s ready (config %s)",
                self.id,
                config.agent,
                config.config_hash[:12],
            )
            running: set[asyncio.Task[None]] = set()
            refill = max(1, config.concurrency // 8)
            while not self.stopping.is_set():
                free = config.concurrency - (len(running) - self.waiting)
                if free <= 0:
                    await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    continue
                if free < refill and running:
                    # nearly full: let a few more slots free up, so one pull (a round trip to
                    # the bus) takes several tasks, not one a completion; a few ms at most
                    await asyncio.wait(running, timeout=REFILL_LINGER_S)
                    free = config.concurrency - (len(running) - self.waiting)
                try:
                    msgs = await sub.fetch(free, timeout=0.5)
                except TimeoutError:  # nothing to fetch: the bus's own timeout or asyncio's
                    continue
                except Exception as exc:  # the bus is restarting: wait for the reconnect
                    log.warning("fetching tasks failed (%r); retrying", exc)
                    await asyncio.sleep(0.5)
                    continue
                for msg in msgs:
                    job = asyncio.create_task(self._handle(msg, store, loop))
                    running.add(job)
                    job.add_done_callback(running.discard)
            if running:
                await asyncio.wait(running, timeout=30)
            beat.cancel()
            keep_alive.cancel()
        finally:
            watchdog.cancel()
            await toolbox.aclose()
            if memory is not None:
                memory.close()
            with contextlib.suppress(Exception):
                await model.aclose()
            with contextlib.suppress(Exception):
                # not drain(): it waits for the pull subscription's queue, which nothing ever
                # joins, so every stop took drain's 30 s timeout; close() flushes pending acks
                await self.nc.close()
            approvals.close()
            self.inbound.close()
            if self.limiter is not None:
                self.limiter.close()
            store.close()

    async def _handle(self, msg: BusMessage, store: RuntimeStore, loop: AgentLoop) -> None:
        try:
            message = TaskMessage.decode(msg.data)
        except ValueError as exc:
            log.error("dropping a message that is not a task: %s", exc)
            await msg.term()
            return
        if self.layout.is_inbound(msg.subject):
            # a program published it: who asked comes from its token, never from the message
            admitted = await self.inbound.admit(message, store)
            if admitted is None:
                await msg.ack()
                return
            message = admitted
        # the usual path is one write transaction: its conversation's turn checked, the attempt
        # started, and the task recorded first when it was published straight to the bus
        create = {
            "agent": message.agent,
            "input": message.input,
            "context_id": message.context_id,
            "inputs": message.inputs,
            "parent_id": message.parent_id,
            "caller": message.caller,
        }
        turn = await store.start_turn_batched(
            message.id, self.id, create=create, recorded=message.recorded
        )
        started = turn.task
        if turn.blocker is not None:
            if not await self._take_turn(msg, message, store, turn.blocker):
                return
            started = await store.run(store.start_attempt, message.id, self.id)
        if started is None:
            ended = await store.run(store.get_task, message.id)
            if ended is not None:
                # finished (or canceled) already: a redelivery, maybe of a child whose worker
                # died before it woke the parent
                await self._wake_parent(ended)
            await msg.ack()
            return
        task = started
        self.live.took(task.id, msg)
        try:
            outcome = await loop.run(started)
        except Exception as exc:
            deliveries = msg.metadata.num_delivered or 1
            log.exception("task %s failed on attempt %d", task.id, deliveries)
            if deliveries >= self.layout.max_deliver:
                reason = f"gave up after {deliveries} attempts; last error: {exc}"
                await store.run(
                    lambda: store.dead_letter(
                        task.id, agent=self.config.agent, reason=reason, deliveries=deliveries
                    )
                )
                await self._announce(
                    task.id, {"kind": "status", "status": "failed", "error": reason}
                )
                await self._wake_parent(task)
                await msg.ack()
            else:
                await msg.nak(delay=1)
            return
        finally:
            self.live.let_go(task.id, msg)
        if outcome.waiting:
            # suspended: the worker lets go; a child that ends publishes this task again
            event = {"kind": "status", "status": "working", "waiting": list(outcome.waiting)}
            await self._announce(task.id, event)
            await msg.ack()
            return
        if outcome.approval is not None:
            # held for a human: the task waits in input-required; deciding publishes it again
            await store.run(store.set_status, task.id, TaskStatus.INPUT_REQUIRED)
            event = {"kind": "status", "status": "input-required", "approval": outcome.approval}
            await self._announce(task.id, event)
            await msg.ack()
            return
        if outcome.canceled:
            await self._announce(task.id, {"kind": "status", "status": "canceled"})
            await self._wake_parent(task)
            await msg.ack()
            return
        status = TaskStatus.COMPLETED if outcome.completed else TaskStatus.FAILED
        if not outcome.recorded:  # replayed to an end recorded by an earlier attempt
            await store.run(
                lambda: store.finish_task(
                    task.id,
                    status,
                    result=outcome.text if outcome.completed else None,
                    error=None if outcome.completed else outcome.text,
                )
            )
        final = {"kind": "status", "status": str(status), "text": outcome.text}
        # the steps written with the end: one event for both
        await self._announce(task.id, final, outcome.steps)
        await self._wake_parent(task)
        await msg.ack()

    async def _watch_parent(self) -> None:
        """Exit when the engine is gone: an unsupervised worker must not linger."""
        while os.getppid() == self.parent:
            await asyncio.sleep(1.0)
        log.warning("engine (pid %d) is gone; worker %s stops", self.parent, self.id)
        self.stopping.set()
        await asyncio.sleep(5.0)  # in-flight tasks are redelivered to the next engine's workers
        os._exit(1)

    def stop(self) -> None:
        self.stopping.set()


def run_worker(config_path: Path, worker_id: str) -> int:
    """Entry point of ``python -m agentform.runtime worker`` and of a worker forked by the
    engine's fork server (:mod:`agentform.runtime.host.forks`)."""
    with contextlib.suppress(KeyError, ValueError):
        os.umask(int(os.environ[USER_UMASK], 8))
    logging.basicConfig(
        level=os.environ.get("AGENTFORM_LOG_LEVEL", "INFO"),
        format=f"%(asctime)s %(levelname)s {worker_id} %(message)s",
    )
    config = WorkerConfig.from_json(config_path.read_bytes())
    worker = Worker(config, worker_id)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        await worker.run()

    from agentform.runtime.models import ModelError
    from agentform.runtime.tools.toolbox import ToolStartError

    try:
        asyncio.run(main())
    except (ModelError, ToolStartError, StoreError, MissingValue, OSError, MissingFilter) as exc:
        # a configuration problem: one clear line for 'agentform logs' and apply's report
        log.error("worker cannot run: %s", exc)
        return 2
    return 0
