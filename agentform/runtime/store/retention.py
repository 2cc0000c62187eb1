"""How long task records are kept: deleting the tasks that ended before a cutoff.

``runtime.tasks.retention`` in the spec says how long the runtime keeps a task after it ended:
its row (the input, the answer), its steps (every model answer, call and result), its approval
requests (a held call's arguments) and its dead letter. :meth:`Retention.prune_tasks` deletes
them, a batch at a time, and appends a ``task.pruned`` audit record in the same transaction; the
audit log keeps its own records under ``runtime.audit.retention``. A delegated task whose parent
has not ended yet is kept (the parent reads its answer when it wakes). Part of
:class:`~agentform.runtime.store.RuntimeStore`; called by the engine's supervision pass
(:mod:`agentform.runtime.host.retention`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, exists, func, inspect, select

from agentform.runtime.audit import AuditEvent
from agentform.runtime.store.approvals import approvals_table
from agentform.runtime.store.audit import append as append_audit
from agentform.runtime.store.records import TERMINAL_VALUES
from agentform.runtime.store.tables import dead_letters_table, steps_table, tasks_table
from agentform.runtime.store.transactions import StoreBase

__all__ = ["Retention"]

BATCH = 500  # tasks deleted in one transaction: short enough not to hold writers up


class Retention(StoreBase):
    """The retention of task records in the runtime store."""

    def prune_tasks(self, before: datetime, *, limit: int = BATCH) -> int:
        """Delete up to ``limit`` tasks that ended before ``before``, with their steps,
        approval requests and dead letters, and audit it (``task.pruned``) in the same
        transaction; how many were deleted (call again while it returns ``limit``)."""
        tasks = tasks_table
        parent = tasks_table.alias("parent")
        waiting_parent = exists(
            select(parent.c.id).where(
                parent.c.id == tasks.c.parent_id, parent.c.status.not_in(TERMINAL_VALUES)
            )
        )
        query = (
            select(tasks.c.id)
            .where(
                tasks.c.status.in_(TERMINAL_VALUES),
                func.coalesce(tasks.c.finished_at, tasks.c.updated_at) < before,
                ~waiting_parent,
            )
            .limit(max(limit, 1))
        )
        with self._begin() as conn:
            found = list(conn.execute(query).scalars())
            if not found:
                return 0
            conn.execute(delete(steps_table).where(steps_table.c.task_id.in_(found)))
            conn.execute(delete(dead_letters_table).where(dead_letters_table.c.task_id.in_(found)))
            # held calls' arguments: the table exists once an engine or worker opened it
            if inspect(conn).has_table(approvals_table.name):
                conn.execute(delete(approvals_table).where(approvals_table.c.task_id.in_(found)))
            conn.execute(delete(tasks).where(tasks.c.id.in_(found)))
            data = {"tasks": len(found), "ended_before": before.isoformat(timespec="seconds")}
            append_audit(conn, [AuditEvent("task.pruned", "engine", data=data)])
        return len(found)
