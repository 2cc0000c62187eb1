"""The engine's health checks: heartbeats, hung and stalled workers, dead letters, lost children.

Owns what the local engine (:mod:`agentform.runtime.host.engine`) watches besides the resources it
was given: workers' heartbeats (read once a second, and pushed to a rollout the moment they are
written: :func:`watch_heartbeats`; a worker counts as ready once it beats ``ready``, a worker still
opening its tool servers beats ``starting``), workers that stopped heartbeating or stopped making
progress on a task (reported, then killed and restarted), a worker's death (the task messages it
held are handed back with a NAK at once), tasks that used up their deliveries (a dead-letter record;
their parent is woken), and delegated tasks past their timeout (failed; their parent is woken).
Functions of the engine, called from its supervision pass and its NATS subscriptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from agentform.contract import AgentValue
from agentform.runtime import bus
from agentform.runtime.bus import TaskMessage
from agentform.runtime.host.supervisor import AgentGroup
from agentform.runtime.host.view import EngineView
from agentform.runtime.store import TaskStatus
from agentform.runtime.worker.delegation import DEFAULT_CHILD_TIMEOUT, resume_parent

__all__ = [
    "check_heartbeats",
    "child_timeout",
    "expire_children",
    "on_max_deliveries",
    "stall_limit",
    "watch_heartbeats",
    "worker_exited",
]

log = logging.getLogger("agentform.engine")
STALE_HEARTBEAT = 10.0  # seconds without a heartbeat before a worker counts as hung
DEFAULT_STALL = 300.0  # seconds without progress on a task, for agents without a timeout


async def on_max_deliveries(engine: EngineView, msg: Any) -> None:
    try:
        advisory = json.loads(msg.data)
        seq = int(advisory["stream_seq"])
        deliveries = int(advisory.get("deliveries", engine.layout.max_deliver))
        assert engine.nc is not None and engine.store is not None
        js = engine.nc.jetstream()
        raw = await js.get_msg(engine.layout.stream, seq)
        task = TaskMessage.decode(raw.data or b"")
        reason = (
            f"no worker could finish it in {deliveries} deliveries (each attempt crashed or hung)"
        )
        store = engine.store
        await store.run(
            lambda: store.dead_letter(
                task.id, agent=task.agent, reason=reason, deliveries=deliveries
            )
        )
        await js.delete_msg(engine.layout.stream, seq)
        log.warning("task %s dead-lettered: %s", task.id, reason)
        ended = await store.run(store.get_task, task.id)
        if ended is not None:
            await resume_parent(js, engine.layout, store, ended)
    except Exception:
        log.exception("could not dead-letter after a max-deliveries advisory")


async def expire_children(engine: EngineView) -> None:
    """Fail delegated tasks past their timeout and wake their parents: a parent never
    waits forever for a child that hangs, crashed for good or was lost."""
    if engine.store is None or engine.nc is None or not engine.nc.is_connected:
        return
    now = time.time()
    if now - engine.children_checked < 2.0:
        return
    engine.children_checked = now
    store = engine.store
    for child in await store.run(store.open_children):
        if child.status is TaskStatus.INPUT_REQUIRED:
            continue  # waiting for a human: its approval_timeout governs, not its wall time
        values = engine.resources.get(f"agent.{child.agent}") or {}
        timeout = child_timeout(values)
        # since it last changed: the time a child waited for a human does not count
        age = now - (child.updated_at or child.created_at).timestamp()
        if age <= timeout:
            continue
        reason = f"the delegated task timed out after {timeout:g}s"
        changed = await asyncio.to_thread(
            functools.partial(store.finish_task, child.id, TaskStatus.FAILED, error=reason)
        )
        if changed:
            engine.note(f"task {child.id} of {child.agent}: {reason}")
            ended = await store.run(store.get_task, child.id)
            if ended is not None:
                await resume_parent(engine.nc.jetstream(), engine.layout, store, ended)


async def check_heartbeats(engine: EngineView) -> None:
    if engine.nc is None or not engine.nc.is_connected:
        return
    try:
        kv = await bus.health_bucket(engine.nc.jetstream(), engine.layout)
        keys = await kv.keys()
    except Exception as exc:
        # no heartbeats yet (nats.js.errors.NoKeysError) or the bus is restarting
        log.debug("no heartbeats read: %r", exc)
        return
    now = time.time()
    for key in keys:
        agent, _, worker_id = key.partition(".")
        group = engine.groups.get(agent)
        if group is None:
            continue
        try:
            entry = await kv.get(key)
            beat = json.loads(entry.value or b"{}")
            if now - float(beat["at"]) > STALE_HEARTBEAT:
                if any(r.worker_id == worker_id and r.alive for r in group.members):
                    group.kill(worker_id, f"has not heartbeaten for {now - float(beat['at']):.0f}s")
                continue
            _heard(group, worker_id, beat)
            stall = stall_limit(group.config.values)
            for task_id, progress in dict(beat.get("tasks") or {}).items():
                if now - float(progress) > stall:
                    group.kill(worker_id, f"made no progress on task {task_id} for {stall:.0f}s")
        except Exception as exc:
            log.warning("unreadable heartbeat %s: %r", key, exc)


def _heard(group: AgentGroup, worker_id: str, beat: Mapping[str, Any]) -> None:
    """A fresh heartbeat of ``worker_id``: alive, and ready unless it says it is starting."""
    group.heard(worker_id)
    if beat.get("state", "ready") == "ready":  # workers before states beat only when ready
        group.mark_ready(worker_id)


async def watch_heartbeats(engine: EngineView, agent: str) -> Callable[[], Awaitable[None]] | None:
    """Apply ``agent``'s heartbeats the moment its workers write them (a rollout waits on
    :attr:`AgentGroup.changed` instead of polling); returns the function that stops watching,
    or None when the bus cannot be watched now (then the once-a-second reading serves)."""
    if engine.nc is None or not engine.nc.is_connected:
        return None
    # a key/value put is a message on $KV.<bucket>.<key>; the key is <agent>.<worker>
    subject = f"$KV.{engine.layout.health}.{agent}.*"

    async def beat(msg: Any) -> None:
        group = engine.groups.get(agent)
        if group is None or not msg.data:  # a deleted key carries no value
            return
        with contextlib.suppress(ValueError, KeyError, TypeError):
            values = json.loads(msg.data)
            if time.time() - float(values["at"]) <= STALE_HEARTBEAT:
                _heard(group, msg.subject.rsplit(".", 1)[1], values)

    try:
        sub = await engine.nc.subscribe(subject, cb=beat)
    except Exception as exc:
        log.debug("cannot watch the heartbeats of %s: %r", agent, exc)
        return None
    return sub.unsubscribe


async def worker_exited(engine: EngineView, agent: str, worker_id: str) -> None:
    """NAK the task messages a dead worker held, so they are redelivered now."""
    if engine.nc is None or not engine.nc.is_connected or engine.closing:
        return
    kv = await bus.health_bucket(engine.nc.jetstream(), engine.layout)
    try:
        entry = await kv.get(f"{agent}.{worker_id}")
        acks = dict(json.loads(entry.value or b"{}").get("acks") or {})
    except Exception:
        return  # it never heartbeat: it held nothing
    for reply in acks.values():
        await engine.nc.publish(str(reply), b"-NAK")
    with contextlib.suppress(Exception):
        await kv.delete(f"{agent}.{worker_id}")
    if acks:
        engine.note(f"worker {worker_id} of {agent} died holding {len(acks)} task(s); handed back")


def child_timeout(agent: Mapping[str, Any]) -> float:
    from agentform.durations import parse_duration

    timeout = (agent.get("limits") or {}).get("timeout")
    # the child's own wall-time limit fails it first; this catches what never ran at all
    return parse_duration(timeout).total_seconds() + 30 if timeout else DEFAULT_CHILD_TIMEOUT


def stall_limit(agent: AgentValue) -> float:
    timeout = agent.limits.timeout
    # a task past its own wall-time limit fails by itself; give it some slack before killing
    return timeout.total_seconds() + 30 if timeout else DEFAULT_STALL
