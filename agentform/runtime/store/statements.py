"""The store's one-task statements, built once with bound parameters.

Building a SQLAlchemy statement costs more than running it on SQLite: start an attempt, look a
task up, check whose turn it is in its conversation, end it (compare-and-set: a task that has
ended stays ended). The writes on every task's path, for many tasks at once, are in
:mod:`.setwise`. Used by :class:`agentform.runtime.store.RuntimeStore` only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, bindparam, literal_column, select, update

from agentform.runtime.store.records import TERMINAL_VALUES, TaskStatus
from agentform.runtime.store.tables import tasks_table

__all__ = [
    "BLOCKING",
    "FINISH",
    "GET_TASK",
    "START",
    "UNFINISHED",
    "finish_values",
]


# "the task has not ended", with the statuses written into the SQL: a bound list is an
# "expanding" parameter that SQLAlchemy renders again on every execution (0.05 ms each, five
# times per task)
UNFINISHED = tasks_table.c.status.not_in([literal_column(f"'{v}'") for v in TERMINAL_VALUES])


def _blocking_query() -> Any:
    # built once: statement construction costs more than running it
    me = tasks_table.alias("me")
    mine: Any = bindparam("me", type_=String())
    return (
        select(tasks_table)
        .join(
            me,
            (me.c.id == mine)
            & (tasks_table.c.agent == me.c.agent)
            & (tasks_table.c.context_id == me.c.context_id),
        )
        .where(
            tasks_table.c.id != mine,
            UNFINISHED,
            (tasks_table.c.created_at < me.c.created_at)
            | ((tasks_table.c.created_at == me.c.created_at) & (tasks_table.c.id < mine)),
        )
        .order_by(tasks_table.c.created_at, tasks_table.c.id)
        .limit(1)
    )


BLOCKING = _blocking_query()
# a task's end, compare-and-set: only a task that has not ended yet may end
FINISH = (
    update(tasks_table)
    .where(tasks_table.c.id == bindparam("tid"), UNFINISHED)
    .values(
        status=bindparam("b_status"),
        result=bindparam("b_result"),
        error=bindparam("b_error"),
        updated_at=bindparam("b_at"),
        finished_at=bindparam("b_finished"),
    )
)


def finish_values(
    id: str, status: TaskStatus, result: str | None, error: str | None
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "tid": id,
        "b_status": TaskStatus(status).value,
        "b_result": result,
        "b_error": error,
        "b_at": now,
        "b_finished": now,
    }


GET_TASK = select(tasks_table).where(tasks_table.c.id == bindparam("tid"))
# the one write every task starts with, built once too
START = (
    update(tasks_table)
    .where(tasks_table.c.id == bindparam("tid"), UNFINISHED)
    .values(
        status=TaskStatus.WORKING.value,
        attempts=tasks_table.c.attempts + 1,
        worker=bindparam("by"),
        updated_at=bindparam("at"),
    )
    .returning(tasks_table)
)
