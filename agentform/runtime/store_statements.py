"""The statements the runtime store runs for every task, built once with bound parameters.

Building a SQLAlchemy statement costs more than running it on SQLite, and every task runs these:
start an attempt, record steps and their tokens, look a task up, check whose turn it is in its
conversation, and end it (compare-and-set: a task that has ended stays ended). The ``*_MANY``
ones do the same for many tasks in one statement (``WHERE id IN (...)``), for the writes a
worker's tasks ask for together (:mod:`.store_batch`). Used by
:class:`agentform.runtime.store.RuntimeStore` only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, bindparam, literal_column, select, update

from agentform.runtime.records import TERMINAL_VALUES, TaskStatus
from agentform.runtime.store_tables import tasks_table

__all__ = [
    "ADD_TOKENS",
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


def _earlier_unfinished(me: Any, mine: Any) -> Any:
    """Unfinished tasks of ``me``'s agent and conversation accepted before it (``mine`` is its
    id), the oldest first: the one it waits for is the first."""
    return (
        select(tasks_table)
        .where(
            tasks_table.c.agent == me.c.agent,
            tasks_table.c.context_id == me.c.context_id,
            tasks_table.c.id != mine,
            UNFINISHED,
            (tasks_table.c.created_at < me.c.created_at)
            | ((tasks_table.c.created_at == me.c.created_at) & (tasks_table.c.id < mine)),
        )
        .order_by(tasks_table.c.created_at, tasks_table.c.id)
        .limit(1)
    )


def _blocking_query() -> Any:
    # built once: statement construction costs more than running it
    me = tasks_table.alias("me")
    mine: Any = bindparam("me", type_=String())
    return _earlier_unfinished(me, mine).where(me.c.id == mine)


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
ADD_TOKENS = (
    update(tasks_table)
    .where(tasks_table.c.id == bindparam("tid"))
    .values(
        input_tokens=tasks_table.c.input_tokens + bindparam("tin"),
        output_tokens=tasks_table.c.output_tokens + bindparam("tout"),
        updated_at=bindparam("at"),
    )
)
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
