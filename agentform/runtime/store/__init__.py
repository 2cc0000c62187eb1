"""The runtime store: every task and every step of the agent loop, recorded in a SQL database.

This module owns :class:`RuntimeStore` and the records it returns (:class:`TaskRecord`,
:class:`StepRecord`, :class:`TaskStatus`). A worker records each step as it happens, so a worker
that crashes can be replaced by another that rebuilds the task from its records; the engine reads
tasks, counts and dead letters for its control API and status pages. Called by
:mod:`agentform.runtime.worker.process` and :mod:`agentform.runtime.host.engine`; the schema and
the engine
setup live in :mod:`.tables` (tables are made with ``create_all`` until Alembic arrives),
the transactions and calls from asyncio in :mod:`.transactions`, the steps in :mod:`.steps`.

Every method is one short transaction, safe with several processes and threads on one database
(the ``*_batched`` ones, which the worker uses on its hot path, share one with the writes other
tasks of the process ask for at the same moment: :mod:`.batch`):
state changes are compare-and-set in a single ``UPDATE ... WHERE`` (a finished task stays
finished), and re-recording a step or re-submitting a task is idempotent, so a replayed worker
or a retried submit does no harm. Every expected failure (database unreachable, a row changed by
hand into something unreadable, a conflicting id or step) raises :class:`StoreError` with a
sentence saying what happened and what to do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, func, select

from agentform.runtime.audit import AuditEvent, filter_events
from agentform.runtime.store.audit import append as append_audit
from agentform.runtime.store.batch import CREATES, STARTS, Grouped
from agentform.runtime.store.records import (
    TERMINAL,
    NewStep,
    StepRecord,
    StoreError,
    TaskRecord,
    TaskStatus,
    Turn,
    new_task,
    task_from_row,
)
from agentform.runtime.store.retention import Retention
from agentform.runtime.store.setwise import Start
from agentform.runtime.store.statements import (
    BLOCKING,
    FINISH,
    GET_TASK,
    START,
    UNFINISHED,
    finish_values,
)
from agentform.runtime.store.steps import StepStore, utc_now
from agentform.runtime.store.tables import (
    dead_letters_table,
    tasks_table,
    utc,
)

# SQLite driver SQL for status_of (qmark parameters), outside SQLAlchemy: see StoreBase._peek
STATUS_OF = f"SELECT status FROM {tasks_table.name} WHERE id = ?"

__all__ = [
    "TERMINAL",
    "NewStep",
    "RuntimeStore",
    "StepRecord",
    "StoreError",
    "TaskRecord",
    "TaskStatus",
    "Turn",
]

# a task to record: its row's values, the channel it came through, the filter hits on its input
_Create = tuple[dict[str, Any], str | None, Sequence[Mapping[str, Any]]]


class RuntimeStore(StepStore, Retention):
    """Tasks, steps and dead letters in the database at ``url`` (SQLite file or PostgreSQL);
    old tasks deleted under a retention (:mod:`.retention`)."""

    # tasks

    def create_task(
        self,
        *,
        id: str,
        agent: str,
        input: str,
        context_id: str | None = None,
        inputs: Mapping[str, Any] | None = None,
        parent_id: str | None = None,
        caller: str | None = None,
        channel: str | None = None,
        filtered: Sequence[Mapping[str, Any]] = (),
    ) -> tuple[TaskRecord, bool]:
        """Record a submitted task; ``(existing, False)`` if ``id`` is already recorded. A new
        task is audited (``task.submitted``: who, through which ``channel``; ``filtered``: the
        content filter hits its input was screened for, ``filter.hit``) in the same
        transaction."""
        write = self._create_write(
            new_task(id, agent, input, context_id, inputs, parent_id, caller), channel, filtered
        )
        return cast(tuple[TaskRecord, bool], self._write_now(write))

    async def create_task_batched(
        self,
        *,
        id: str,
        agent: str,
        input: str,
        context_id: str | None = None,
        inputs: Mapping[str, Any] | None = None,
        parent_id: str | None = None,
        caller: str | None = None,
        channel: str | None = None,
        filtered: Sequence[Mapping[str, Any]] = (),
    ) -> tuple[TaskRecord, bool]:
        """:meth:`create_task` in a transaction shared with other writes (:meth:`write`)."""
        write = self._create_write(
            new_task(id, agent, input, context_id, inputs, parent_id, caller), channel, filtered
        )
        return cast(tuple[TaskRecord, bool], await self._write_later(write))

    def _create_write(
        self, values: dict[str, Any], channel: str | None, filtered: Sequence[Mapping[str, Any]]
    ) -> Grouped:
        return Grouped(self._create_audited, (values, channel, filtered), values["id"], CREATES)

    def _create_audited(self, conn: Connection, items: list[_Create]) -> list[Any]:
        results = self._sql.create_tasks(conn, [values for values, _, _ in items])
        events: list[AuditEvent] = []
        for (_, channel, filtered), (task, created) in zip(items, results, strict=True):
            if not created:
                continue
            caller = task.caller or "unknown"
            events.append(
                AuditEvent(
                    "task.submitted",
                    caller,
                    task.agent,
                    task.id,
                    {"channel": channel or "api", "parent": task.parent_id},
                )
            )
            events.extend(filter_events(task.id, filtered, caller, task.agent))
        append_audit(conn, events)
        return results

    def screen_input(self, id: str, text: str, filtered: Sequence[Mapping[str, Any]]) -> None:
        """Keep the task's input as the content filters left it (``text``), and audit what
        they found (``filter.hit``, by its agent), in one transaction."""
        with self._begin() as conn:
            row = conn.execute(select(tasks_table.c.agent).where(tasks_table.c.id == id)).first()
            if row is None:
                return
            conn.execute(self._task_update(id).values(input=text, updated_at=utc_now()))
            agent = str(row.agent)
            append_audit(conn, filter_events(id, filtered, f"agent:{agent}", agent))

    def get_task(self, id: str) -> TaskRecord | None:
        with self._begin(read=True) as conn:
            row = conn.execute(GET_TASK, {"tid": id}).first()
        return None if row is None else task_from_row(row)

    def status_of(self, id: str) -> TaskStatus | None:
        """Task ``id``'s status alone (None: no such task): what a worker asks between steps,
        whether the task was canceled. On SQLite from the event loop one indexed read on the
        driver, a tenth of :meth:`get_task`'s cost."""
        rows = self._peek(STATUS_OF, (id,))
        if rows is None:
            with self._begin(read=True) as conn:
                rows = list(
                    conn.execute(select(tasks_table.c.status).where(tasks_table.c.id == id))
                )
        return TaskStatus(rows[0][0]) if rows else None

    def count_tasks(
        self,
        *,
        agent: str | None = None,
        status: TaskStatus | None = None,
        context_id: str | None = None,
        caller: str | None = None,
    ) -> int:
        """How many tasks match every filter given (what a listing's pages add up to)."""
        query = select(func.count()).select_from(tasks_table)
        if caller is not None:
            query = query.where(tasks_table.c.caller == caller)
        if agent is not None:
            query = query.where(tasks_table.c.agent == agent)
        if status is not None:
            query = query.where(tasks_table.c.status == TaskStatus(status).value)
        if context_id is not None:
            query = query.where(tasks_table.c.context_id == context_id)
        with self._begin(read=True) as conn:
            return int(conn.execute(query).scalar_one())

    def list_tasks(
        self,
        *,
        agent: str | None = None,
        status: TaskStatus | None = None,
        context_id: str | None = None,
        parent_id: str | None = None,
        caller: str | None = None,
        limit: int = 50,
    ) -> list[TaskRecord]:
        """Tasks matching every filter given, newest first, at most ``limit``."""
        query = select(tasks_table)
        if caller is not None:
            query = query.where(tasks_table.c.caller == caller)
        if parent_id is not None:
            query = query.where(tasks_table.c.parent_id == parent_id)
        if agent is not None:
            query = query.where(tasks_table.c.agent == agent)
        if status is not None:
            query = query.where(tasks_table.c.status == TaskStatus(status).value)
        if context_id is not None:
            query = query.where(tasks_table.c.context_id == context_id)
        query = query.order_by(tasks_table.c.created_at.desc(), tasks_table.c.id.desc())
        with self._begin(read=True) as conn:
            rows = conn.execute(query.limit(max(limit, 0))).all()
        return [task_from_row(row) for row in rows]

    def blocking_task(self, id: str) -> TaskRecord | None:
        """The oldest unfinished task of the same agent and conversation accepted before ``id``.

        A conversation's messages are handled one at a time, in the order they were accepted:
        ``id`` may start once this returns None.
        """
        with self._begin(read=True) as conn:
            row = conn.execute(BLOCKING, {"me": id}).first()
        return None if row is None else task_from_row(row)

    def open_children(self, *, limit: int = 1000) -> list[TaskRecord]:
        """Delegated tasks (with a parent) that have not ended, oldest first."""
        query = (
            select(tasks_table)
            .where(
                tasks_table.c.parent_id.is_not(None),
                UNFINISHED,
            )
            .order_by(tasks_table.c.created_at)
            .limit(limit)
        )
        with self._begin(read=True) as conn:
            rows = conn.execute(query).all()
        return [task_from_row(row) for row in rows]

    def start_turn(
        self,
        id: str,
        worker: str,
        *,
        create: Mapping[str, Any] | None = None,
        recorded: bool = True,
    ) -> Turn:
        """Start an attempt at ``id`` for ``worker`` unless an earlier task of its conversation
        has not ended (then ``Turn(None, blocker)``), in one transaction.

        ``create`` (``agent``, ``input``, ``context_id``, ``inputs``, ``parent_id``) records the
        task first when it is unknown: a task published straight to the bus. ``recorded``
        says whether the task is expected to be in the store already; when it is not, the
        task is recorded first (one statement fewer than looking for it).
        """
        return cast(Turn, self._write_now(self._start_write(Start(id, worker, create, recorded))))

    async def start_turn_batched(
        self,
        id: str,
        worker: str,
        *,
        create: Mapping[str, Any] | None = None,
        recorded: bool = True,
    ) -> Turn:
        """:meth:`start_turn` in a transaction shared with other tasks' writes (:meth:`write`):
        tasks started together are recorded, checked and started in three statements."""
        start = self._start_write(Start(id, worker, create, recorded))
        return cast(Turn, await self._write_later(start))

    def _start_write(self, start: Start) -> Grouped:
        return Grouped(self._start_turns, start, start.id, STARTS)

    def _start_turns(self, conn: Connection, starts: list[Start]) -> list[Turn]:
        turns, made = self._sql.start_turns(conn, starts, utc_now())
        # a task published straight to the bus is recorded here: audited as it is
        append_audit(
            conn,
            [
                AuditEvent(
                    "task.submitted",
                    row.get("caller") or "unknown",
                    row["agent"],
                    row["id"],
                    {"channel": "bus", "parent": row.get("parent_id")},
                )
                for row in made
            ],
        )
        return turns

    def start_attempt(self, id: str, worker: str) -> TaskRecord | None:
        """Mark the task working for ``worker`` and count the attempt; None if terminal/unknown."""
        with self._begin() as conn:
            row = conn.execute(START, {"tid": id, "by": worker, "at": utc_now()}).first()
        return None if row is None else task_from_row(row)

    def finish_task(
        self,
        id: str,
        status: TaskStatus,
        *,
        result: str | None = None,
        error: str | None = None,
    ) -> bool:
        """Move a task that is not yet finished to terminal ``status``; False if it was already."""
        if TaskStatus(status) not in TERMINAL:
            raise ValueError(f"finish_task needs a terminal status, not {status!r}")
        with self._begin() as conn:
            return conn.execute(FINISH, finish_values(id, status, result, error)).rowcount == 1

    def set_status(self, id: str, status: TaskStatus) -> bool:
        """Move a task that is not finished to another non-terminal status; False otherwise."""
        if TaskStatus(status) in TERMINAL:
            raise ValueError(f"set_status cannot finish a task ({status!r}): use finish_task")
        statement = self._task_update(id).values(
            status=TaskStatus(status).value, updated_at=utc_now()
        )
        with self._begin() as conn:
            return conn.execute(statement).rowcount == 1

    def counts(self) -> dict[str, int]:
        """How many tasks are in each status (every status present, zeros included)."""
        query = select(tasks_table.c.status, func.count()).group_by(tasks_table.c.status)
        with self._begin(read=True) as conn:
            rows = conn.execute(query).all()
        found = {str(status): int(n) for status, n in rows}
        return {s.value: found.pop(s.value, 0) for s in TaskStatus} | found

    # dead letters

    def dead_letter(self, task_id: str, *, agent: str, reason: str, deliveries: int) -> None:
        """Record that the task's message was given up on, and fail the task if still running."""
        now = utc_now()
        values = {
            "task_id": task_id,
            "agent": agent,
            "reason": reason,
            "deliveries": deliveries,
            "created_at": now,
        }
        with self._begin() as conn:
            conn.execute(self._insert_new(dead_letters_table, ["task_id"]).values(values))
            conn.execute(
                self._task_update(task_id).values(
                    status=TaskStatus.FAILED.value, error=reason, updated_at=now, finished_at=now
                )
            )

    def dead_letters(self, *, limit: int = 50) -> list[dict[str, Any]]:
        """Dead letters newest first: task_id, agent, reason, deliveries, created_at (UTC)."""
        query = (
            select(dead_letters_table)
            .order_by(dead_letters_table.c.created_at.desc(), dead_letters_table.c.task_id.desc())
            .limit(max(limit, 0))
        )
        with self._begin(read=True) as conn:
            rows = conn.execute(query).all()
        return [{**row._asdict(), "created_at": utc(row.created_at)} for row in rows]
