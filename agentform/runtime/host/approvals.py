"""Deciding held calls: the engine's side of approvals.

A worker that holds a call files an approval request in the runtime store
(:class:`~agentform.runtime.store.approvals.ApprovalBook`) and lets go of the task, which waits in
``input-required``. Here the engine decides a request (``agentform approvals approve|deny``,
``POST /v1/approvals/{id}``), or expires it once its ``approval_timeout`` passed (on every
supervision pass), and then publishes the task again (:func:`~agentform.runtime.worker.
delegation.resume_task`), so a worker picks it up where its records end and reads the
decision; a task still waiting on a request decided a while ago (the bus was down, or the
engine died, when it was decided) is published again by the supervision pass. A decision is a
compare-and-set on ``pending``: a second decision, or one after the timeout, changes nothing and
says so. Functions of an :class:`~.view.EngineView`, like
:mod:`.health`; called by :mod:`.engine` and :mod:`.control`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from datetime import UTC, datetime, timedelta

from agentform.runtime.audit import AuditEvent
from agentform.runtime.errors import EngineError
from agentform.runtime.host.callers import Caller
from agentform.runtime.host.view import EngineView
from agentform.runtime.store import TERMINAL, TaskStatus
from agentform.runtime.store.approvals import Approval, ApprovalBook, Decided
from agentform.runtime.worker.delegation import resume_task

__all__ = [
    "answer",
    "book",
    "decide",
    "decide_for_task",
    "expire",
    "pending_for",
    "wake_forgotten",
]

log = logging.getLogger("agentform.engine")
FORGOTTEN_AFTER = 5.0  # seconds after a decision before its task counts as not woken
_checked: weakref.WeakKeyDictionary[EngineView, float] = weakref.WeakKeyDictionary()


def book(engine: EngineView) -> ApprovalBook:
    """The approvals of the engine's runtime store (503 until the store is set up)."""
    if engine.approvals is None:
        raise EngineError("the runtime store is not set up yet; apply first", 503)
    return engine.approvals


async def decide(
    engine: EngineView, id: str, decision: Decided, *, by: str, note: str = ""
) -> Approval:
    """Decide a pending request, then wake its task. A held call is approved or denied; an
    unknown outcome is answered approved (retry), denied (fail) or happened (``note`` is the
    result the model gets)."""
    approvals = book(engine)
    found = await asyncio.to_thread(approvals.get, id)
    if decision == "happened" and found is not None and found.kind in ("policy", "breaker"):
        held = "a policy" if found.kind == "policy" else "a tripped circuit breaker"
        raise EngineError(
            f"approval request {id} holds a call for {held}: approve or deny it"
            " ('happened' answers an unknown outcome)",
            400,
        )
    if found is not None and found.status == "pending" and engine.store is not None:
        task = await asyncio.to_thread(engine.store.get_task, found.task_id)
        if task is not None and task.status in TERMINAL:  # canceled, timed out meanwhile
            raise EngineError(
                f"task {task.id} already ended ({task.status}); its request {id} decides"
                " nothing and was left as it is",
                409,
            )
    decided = await asyncio.to_thread(approvals.decide, id, decision, by=by, note=note)
    if decided is None:
        found = await asyncio.to_thread(approvals.get, id)
        if found is None:
            raise EngineError(f"no approval request {id!r}; 'agentform approvals list'", 404)
        raise EngineError(
            f"approval request {id} is {found.status} already"
            f" ({found.decided_by or 'nobody'} decided it); nothing changed",
            409,
        )
    await engine.audit(
        AuditEvent(
            "approval.decided",
            by,
            decided.agent,
            decided.task_id,
            {"approval": decided.id, "kind": decided.kind, "decision": decided.status,
             "policies": decided.policies, "note": (note or "")[:500]},
        )
    )  # fmt: skip
    await _wake(engine, decided)
    return decided


async def decide_for_task(
    engine: EngineView, task_id: str, decision: Decided, *, subject: str, note: str = ""
) -> Approval:
    """Decide the pending request of ``task_id`` as ``subject`` (an A2A caller): only a subject
    whose roles grant ``approve`` on a policy that held the call may (403 otherwise)."""
    found = await pending_for(engine, task_id)
    if found is None or found.kind == "question":
        raise EngineError(f"task {task_id} has no call waiting for approval", 409)
    if not Caller(subject).may_decide(engine, found):
        policies = ", ".join(f"approve:{p}" for p in found.policies)
        raise EngineError(
            f"{subject!r} may not decide calls held by policy {', '.join(found.policies)}: give"
            f" it a role with {policies} in the spec's access and apply",
            403,
        )
    return await decide(engine, found.id, decision, by=subject, note=note)


async def pending_for(engine: EngineView, task_id: str) -> Approval | None:
    """The request ``task_id`` waits on (a held call, an unknown outcome, a question), if any."""
    approvals = book(engine)
    pending = await asyncio.to_thread(lambda: approvals.list_requests(status="pending"))
    return next((a for a in pending if a.task_id == task_id), None)


async def answer(engine: EngineView, task_id: str, text: str, *, subject: Caller) -> Approval:
    """Answer the question the model of ``task_id`` asked (``ask_user``): only whoever sent
    the task, an admin or the operator may; the answer is what the model gets."""
    found = await pending_for(engine, task_id)
    if found is None or found.kind != "question":
        raise EngineError(f"task {task_id} is not waiting for an answer to a question", 409)
    store = engine.store
    task = await asyncio.to_thread(store.get_task, task_id) if store is not None else None
    if not (subject.is_admin(engine) or (task is not None and task.caller == subject.subject)):
        raise EngineError(
            f"{subject.subject!r} may not answer: the question is for whoever sent task"
            f" {task_id} ({task.caller if task is not None else 'unknown'})",
            403,
        )
    if not text.strip():
        raise EngineError("an answer needs some text", 400)
    return await decide(engine, found.id, "happened", by=subject.subject, note=text.strip())


async def expire(engine: EngineView) -> list[Approval]:
    """Expire the pending requests past their deadline and wake their tasks; then wake the
    tasks a decision did not reach (:func:`wake_forgotten`). Every supervision pass."""
    if engine.approvals is None:
        return []
    await wake_forgotten(engine)
    expired = await asyncio.to_thread(engine.approvals.expire_due)
    for approval in expired:
        engine.note(f"approval {approval.id} expired (approval_timeout); its call is refused")
        await engine.audit(
            AuditEvent(
                "approval.expired",
                "engine",
                approval.agent,
                approval.task_id,
                {"approval": approval.id, "policies": approval.policies},
            )
        )
        await _wake(engine, approval)
    return expired


async def _wake(engine: EngineView, approval: Approval) -> None:
    store = engine.store
    if store is None or engine.nc is None or not engine.nc.is_connected:
        return  # no bus: wake_forgotten publishes the task once there is one again
    task = await store.run(store.get_task, approval.task_id)
    if task is None or task.status in TERMINAL:
        return
    because = f"approval-{approval.call_id}-{approval.status}"
    try:
        await resume_task(engine.nc.jetstream(), engine.layout, task, because)
    except Exception as exc:  # the bus is down: wake_forgotten finds the task still waiting
        log.warning("could not wake task %s after its approval: %s", task.id, exc)


async def wake_forgotten(engine: EngineView) -> list[str]:
    """Wake the tasks still waiting in input-required with no request pending and one decided
    over :data:`FORGOTTEN_AFTER` ago: the wake-up of a decision made while the bus was down, or
    by an engine killed right after deciding, never reached a worker, and nothing else would
    publish the task again. The same message id as :func:`_wake`'s, so a wake-up that did
    reach the stream is not stored twice. At most every FORGOTTEN_AFTER seconds; returns the
    ids of the tasks woken."""
    store, approvals = engine.store, engine.approvals
    if store is None or approvals is None or engine.nc is None or not engine.nc.is_connected:
        return []
    now = time.monotonic()
    if now - _checked.get(engine, 0.0) < FORGOTTEN_AFTER:
        return []
    _checked[engine] = now
    waiting = await store.run(
        lambda: store.list_tasks(status=TaskStatus.INPUT_REQUIRED, limit=1000)
    )
    if not waiting:
        return []
    requests = await asyncio.to_thread(approvals.for_tasks, [t.id for t in waiting])
    before = datetime.now(UTC) - timedelta(seconds=FORGOTTEN_AFTER)
    woken: list[str] = []
    for task in waiting:
        mine = [a for a in requests if a.task_id == task.id]
        if not mine or any(a.status == "pending" for a in mine):
            continue
        latest = max(mine, key=lambda a: a.decided_at or a.created_at)
        if latest.decided_at is None or latest.decided_at > before:
            continue
        because = f"approval-{latest.call_id}-{latest.status}"
        try:
            await resume_task(engine.nc.jetstream(), engine.layout, task, because)
        except Exception as exc:  # the bus went down again: the next pass tries again
            log.warning("could not wake task %s after its approval: %s", task.id, exc)
            return woken
        # most are wake-ups still queued for busy or restarting workers (the bus keeps one)
        log.info("task %s waits on decided request %s: published again", task.id, latest.id)
        woken.append(task.id)
    return woken
