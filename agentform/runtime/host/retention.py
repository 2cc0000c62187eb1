"""The engine keeps task records no longer than ``runtime.tasks.retention`` says, and audit
records no longer than ``runtime.audit.retention`` (:func:`prune_audit`, once an hour: the
pruned range's checkpoint keeps the rest verifiable).

Planning resolves ``runtime.tasks.retention`` onto ``runtime.store``'s value
(``task_retention``); on its supervision pass, every :data:`PRUNE_EVERY_S` seconds, the engine
deletes the tasks that ended longer ago than that, with their steps, approval requests and dead
letters (:meth:`~agentform.runtime.store.retention.Retention.prune_tasks`, which audits each
batch). Without it tasks are kept. Called by :mod:`agentform.runtime.host.engine`.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from datetime import UTC, datetime

from agentform.durations import parse_duration
from agentform.runtime.host.view import EngineView
from agentform.runtime.store.retention import BATCH

__all__ = ["AUDIT_PRUNE_EVERY_S", "PRUNE_EVERY_S", "prune_audit", "prune_tasks"]

PRUNE_EVERY_S = 60.0
AUDIT_PRUNE_EVERY_S = 3600.0  # how often the audit log's retention is applied
MAX_BATCHES = 20  # a pass deletes at most this many batches: the rest waits for the next one

_pruned_at: weakref.WeakKeyDictionary[EngineView, float] = weakref.WeakKeyDictionary()
_audit_pruned_at: weakref.WeakKeyDictionary[EngineView, float] = weakref.WeakKeyDictionary()


async def prune_tasks(engine: EngineView, *, now: float | None = None) -> int:
    """Delete the task records older than the retention, when one is set and the last pass was
    long enough ago; how many were deleted."""
    retention = (engine.resources.get("runtime.store") or {}).get("task_retention")
    store = engine.store
    if not retention or store is None:
        return 0
    clock = time.monotonic() if now is None else now
    last = _pruned_at.get(engine)
    if last is not None and clock - last < PRUNE_EVERY_S:
        return 0
    _pruned_at[engine] = clock
    cutoff = datetime.now(UTC) - parse_duration(str(retention))
    gone = 0
    for _ in range(MAX_BATCHES):
        deleted = await store.run(store.prune_tasks, cutoff)
        gone += deleted
        if deleted < BATCH:
            break
    if gone:
        engine.note(f"tasks: {gone} task record(s) that ended over {retention} ago deleted")
    return gone


async def prune_audit(engine: EngineView, *, now: float | None = None) -> int:
    """Delete the audit records older than ``runtime.audit.retention`` (resolved onto
    ``runtime.store``'s value as ``audit_retention``), at most once an hour; how many went. The
    log appends a checkpoint with the last deleted record's hash, so what remains verifies."""
    retention = (engine.resources.get("runtime.store") or {}).get("audit_retention")
    audit_log = engine.audit_log
    if not retention or audit_log is None:
        return 0
    clock = time.monotonic() if now is None else now
    last = _audit_pruned_at.get(engine)
    if last is not None and clock - last < AUDIT_PRUNE_EVERY_S:
        return 0
    _audit_pruned_at[engine] = clock
    cutoff = datetime.now(UTC) - parse_duration(str(retention))
    gone = await asyncio.to_thread(audit_log.prune, cutoff.isoformat(timespec="microseconds"))
    if gone:
        engine.note(f"audit: {gone} record(s) older than {retention} pruned (a checkpoint kept)")
    return int(gone)
