"""The writes every task makes, for many tasks at once, in the database's own SQL.

A worker starts tasks, records their steps and ends them; the engine records submitted tasks.
These run on the hot path of every task, and the writes a process's tasks ask for together run
in one transaction (:mod:`.batch`), so each statement here serves many tasks: one
``INSERT`` for all their steps, one ``UPDATE ... WHERE id IN (...)`` starting all of them.

They are written as driver SQL, run on the driver's cursor inside the store's SQLAlchemy
transaction (:func:`.cursor.rows`), rather than as SQLAlchemy expressions: on SQLite, SQLAlchemy's
compilation, parameter and row processing cost three times what the database does
(``benchmarks/README.md``: 257 against 87 µs of CPU per task, 16 tasks a transaction), and even
``exec_driver_sql``'s result objects cost a tenth of the store's time per task. The SQL is plain
and portable (``INSERT ... ON CONFLICT DO NOTHING RETURNING``, ``UPDATE ... RETURNING``: SQLite
3.35+, PostgreSQL); :class:`_Dialect` holds the few differences: the parameter mark, how a time is
passed and read back (SQLite keeps SQLAlchemy's text format, so rows written here and by SQLAlchemy
read the same), and row locks. Table and column names come from :mod:`.tables`. Called by the
runtime store (:class:`~agentform.runtime.store.RuntimeStore`) inside its transactions; each
function's results are what each write would have given alone, one after the other
(:mod:`.batch` relies on it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from typing import Any

from sqlalchemy import Connection

from agentform.runtime.store import cursor
from agentform.runtime.store.records import (
    TERMINAL_VALUES,
    NewStep,
    StepRecord,
    StoreError,
    TaskRecord,
    TaskStatus,
    Turn,
    dumps,
    loads,
    new_task_row,
    task_from_mapping,
)
from agentform.runtime.store.tables import steps_table, tasks_table, utc

__all__ = ["Start", "StepsWrite", "TaskSQL"]

TASK_COLUMNS = [column.name for column in tasks_table.columns]
NEW_TASK_COLUMNS = [
    *("id", "agent", "context_id", "input", "inputs", "status", "attempts", "parent_id"),
    *("created_at", "updated_at", "input_tokens", "output_tokens", "caller"),
]
STEP_COLUMNS = [
    *("task_id", "seq", "kind", "data", "input_tokens", "output_tokens", "latency_ms"),
    "created_at",
]
ROWS_PER_INSERT = 500  # VALUES rows in one statement (SQLite allows 32,766 parameters)


@dataclass(frozen=True, slots=True)
class Start:
    """A task to start for a worker (:meth:`~agentform.runtime.store.RuntimeStore.start_turn`):
    ``create`` records it first when it is unknown, ``recorded`` says whether it should be."""

    id: str
    worker: str
    create: Mapping[str, Any] | None
    recorded: bool


@dataclass(frozen=True, slots=True)
class StepsWrite:
    """Steps to record for one task, and its end when ``end`` (status, result, error)."""

    task_id: str
    steps: Sequence[NewStep]
    end: tuple[TaskStatus, str | None, str | None] | None = None


@dataclass(frozen=True, slots=True)
class _Dialect:
    mark: str  # a positional parameter
    lock: str  # locks the rows a SELECT returns until the commit
    text_times: bool  # SQLite: times are text in SQLAlchemy's format

    def time(self, value: datetime) -> Any:
        if not self.text_times:
            return value
        # SQLAlchemy's SQLite DATETIME storage format (the fields of the UTC time)
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    def read_time(self, value: Any) -> datetime:
        if isinstance(value, str):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        return utc(value)


class TaskSQL:
    """The per-task statements for one database (``dialect``: ``sqlite`` or ``postgresql``)."""

    def __init__(self, dialect: str) -> None:
        sqlite = dialect == "sqlite"
        self.dialect = _Dialect("?" if sqlite else "%s", "" if sqlite else " FOR UPDATE", sqlite)
        m = self.dialect.mark
        tasks, steps = tasks_table.name, steps_table.name
        ended = ", ".join(f"'{value}'" for value in TERMINAL_VALUES)
        self._columns = ", ".join(TASK_COLUMNS)
        self._insert_task = (
            f"INSERT INTO {tasks} ({', '.join(NEW_TASK_COLUMNS)}) VALUES {{rows}}"
            " ON CONFLICT (id) DO NOTHING RETURNING id"
        )
        self._task_row = "(" + ", ".join([m] * len(NEW_TASK_COLUMNS)) + ")"
        self._insert_step = (
            f"INSERT INTO {steps} ({', '.join(STEP_COLUMNS)}) VALUES {{rows}}"
            " ON CONFLICT (task_id, seq) DO NOTHING RETURNING task_id, seq"
        )
        self._step_row = "(" + ", ".join([m] * len(STEP_COLUMNS)) + ")"
        # for each task, the oldest unfinished task of its agent and conversation accepted
        # before it: the one it waits for (NULL: none); the turn index answers it
        self._blockers = (
            f"SELECT me.id, (SELECT t.id FROM {tasks} t WHERE t.agent = me.agent"
            " AND t.context_id = me.context_id AND t.id <> me.id"
            f" AND t.status NOT IN ({ended}) AND (t.created_at < me.created_at"
            " OR (t.created_at = me.created_at AND t.id < me.id))"
            f" ORDER BY t.created_at, t.id LIMIT 1) FROM {tasks} me WHERE me.id IN ({{ids}})"
        )
        self._start = (
            f"UPDATE {tasks} SET status = '{TaskStatus.WORKING.value}',"
            f" attempts = attempts + 1, worker = {m}, updated_at = {m}"
            f" WHERE id IN ({{ids}}) AND status NOT IN ({ended}) RETURNING {self._columns}"
        )
        self._tasks = f"SELECT {self._columns} FROM {tasks} WHERE id IN ({{ids}})"
        self._found = (
            f"SELECT id, status, agent FROM {tasks} WHERE id IN ({{ids}}){self.dialect.lock}"
        )
        self._add_tokens = (
            f"UPDATE {tasks} SET input_tokens = input_tokens + {m},"
            f" output_tokens = output_tokens + {m}, updated_at = {m} WHERE id = {m}"
        )
        # a task's end with the tokens of its last steps; compare-and-set (an ended task stays
        # ended), though the rows are locked and known open when it runs
        self._finish = (
            f"UPDATE {tasks} SET input_tokens = input_tokens + {m},"
            f" output_tokens = output_tokens + {m}, status = {m}, result = {m}, error = {m},"
            f" updated_at = {m}, finished_at = {m} WHERE id = {m} AND status NOT IN ({ended})"
        )
        self._step = (
            f"SELECT {', '.join(STEP_COLUMNS)} FROM {steps} WHERE task_id = {m} AND seq = {m}"
        )

    # tasks

    def create_tasks(self, conn: Connection, rows: list[dict[str, Any]]) -> list[Any]:
        """Record tasks (distinct ids; rows of :func:`new_task_row`) in one INSERT; for each
        ``(record, created)``: a task already recorded is kept, and must be of the same
        agent."""
        new = self._insert_tasks(conn, rows)
        out: list[Any] = []
        for values in rows:
            id, agent = values["id"], values["agent"]
            if id in new:
                out.append((self._task_from_values(values), True))
                continue
            (task,) = self._read_tasks(conn, [id]).values()
            if task.agent != agent:
                raise StoreError(
                    f"task {id} already exists for agent {task.agent!r}, not {agent!r}; "
                    "task ids must be unique across agents: submit with a new id"
                )
            out.append((task, False))
        return out

    def start_turns(
        self, conn: Connection, starts: list[Start], at: datetime
    ) -> tuple[list[Turn], list[dict[str, Any]]]:
        """Start each task (distinct ids) for its worker unless an earlier task of its
        conversation has not ended (then ``Turn(None, blocker)``); a task published straight
        to the bus (``create``, not ``recorded``) is recorded first. Also returns the rows of
        the tasks this recorded (to be audited with them)."""
        fresh = [
            new_task_row(s.id, s.create) for s in starts if s.create is not None and not s.recorded
        ]
        made: list[dict[str, Any]] = []
        if fresh:  # recorded first; one that was there is kept
            new = self._insert_tasks(conn, fresh)
            made = [row for row in fresh if row["id"] in new]
        turns = self._turns(conn, [(s.id, s.worker) for s in starts], at)
        out: list[Turn] = []
        for start, turn in zip(starts, turns, strict=True):
            if turn.task is not None or turn.blocker is not None or start.create is None:
                out.append(turn)
            elif not start.recorded or self._read_tasks(conn, [start.id]):
                out.append(Turn(None))  # it was there, and has ended
            else:  # said to be recorded, and is not: record it now, then start it
                row = new_task_row(start.id, start.create)
                if self._insert_tasks(conn, [row]):
                    made.append(row)
                out.append(self._turns(conn, [(start.id, start.worker)], at)[0])
        return out, made

    def _turns(self, conn: Connection, starts: list[tuple[str, str]], at: datetime) -> list[Turn]:
        ids = [id for id, _ in starts]
        blockers = {
            id: blocker
            for id, blocker in cursor.rows(conn, self._in(self._blockers, ids), tuple(ids))
            if blocker is not None
        }
        go: dict[str, list[str]] = {}
        for id, worker in starts:
            if id not in blockers:
                go.setdefault(worker, []).append(id)
        started: dict[str, TaskRecord] = {}
        for worker, mine in go.items():
            params = (worker, self.dialect.time(at), *mine)
            for row in cursor.rows(conn, self._in(self._start, mine), params):
                task = self._task_from_row(row)
                started[task.id] = task
        waited = self._read_tasks(conn, sorted(set(blockers.values()))) if blockers else {}
        return [
            Turn(None, waited[blockers[id]]) if id in blockers else Turn(started.get(id))
            for id in ids
        ]

    def _insert_tasks(self, conn: Connection, rows: list[dict[str, Any]]) -> set[str]:
        """Insert-or-keep; the ids that were new."""
        time = self.dialect.time
        params = [
            tuple(
                time(row[c]) if c in ("created_at", "updated_at") else row[c]
                for c in NEW_TASK_COLUMNS
            )
            for row in rows
        ]
        return {id for (id,) in self._insert(conn, self._insert_task, self._task_row, params)}

    def _read_tasks(self, conn: Connection, ids: list[str]) -> dict[str, TaskRecord]:
        rows = cursor.rows(conn, self._in(self._tasks, ids), tuple(ids))
        return {task.id: task for task in map(self._task_from_row, rows)}

    def _task_from_row(self, row: Sequence[Any]) -> TaskRecord:
        return task_from_mapping(dict(zip(TASK_COLUMNS, row, strict=True)), self.dialect.read_time)

    @staticmethod
    def _task_from_values(values: Mapping[str, Any]) -> TaskRecord:
        """A task just recorded from ``values``, as reading it back gives it."""
        return task_from_mapping({**values, "result": None, "error": None, "worker": None,
                                  "finished_at": None}, utc)  # fmt: skip

    # steps

    def record_steps(
        self, conn: Connection, writes: list[StepsWrite], now: datetime
    ) -> tuple[list[Any], dict[str, str]]:
        """Record the steps of every write (one task each, distinct) in one INSERT, add the
        tokens of those that were new to their tasks, and end the tasks of the writes that say
        so. Each result is what the write alone gives: its steps (one already recorded with the
        same kind comes back as it was), and for a write that ends its task also whether the
        task's status changed (it had not ended). Also returns the agent of each task written
        (read with the tasks' rows, locked: who the steps' audit records are by)."""
        ids = [write.task_id for write in writes]
        found: dict[str, str] = {}
        agents: dict[str, str] = {}
        for id, status, agent in cursor.rows(conn, self._in(self._found, ids), tuple(ids)):
            found[id], agents[id] = status, agent
        at = self.dialect.time(now)
        rows: list[tuple[Any, ...]] = []
        for write in writes:
            for step in write.steps:
                data = dumps(dict(step.data), f"step {step.seq} of task {write.task_id}")
                rows.append(
                    (write.task_id, step.seq, step.kind, data, step.input_tokens,
                     step.output_tokens, step.latency_ms, at)
                )  # fmt: skip
        new = set(self._insert(conn, self._insert_step, self._step_row, rows))
        results: list[Any] = []
        tokens: list[tuple[Any, ...]] = []
        ends: list[tuple[Any, ...]] = []
        index = 0
        for write in writes:
            recorded: list[StepRecord] = []
            tokens_in = tokens_out = added = 0
            for step in write.steps:
                text = rows[index][3]
                index += 1
                key = (write.task_id, step.seq)
                if key not in new:  # recorded before, or a seq given twice: a re-record
                    recorded.append(self._recorded_step(conn, write.task_id, step))
                    continue
                new.discard(key)
                # the data as given (a copy), not read back from its JSON: it was just written
                # from it, and parsing it again cost more than writing it
                recorded.append(
                    StepRecord(write.task_id, step.seq, step.kind, dict(step.data),
                               int(step.input_tokens), int(step.output_tokens),
                               float(step.latency_ms), now, text)
                )  # fmt: skip
                tokens_in += step.input_tokens
                tokens_out += step.output_tokens
                added += 1
            if added and write.task_id not in found:
                seqs = ", ".join(str(step.seq) for step in write.steps)
                raise StoreError(
                    f"no task {write.task_id} to record step {seqs} for; create it first"
                )
            was = found.get(write.task_id)
            ends_now = write.end is not None and was is not None and was not in TERMINAL_VALUES
            if ends_now:  # its end and its tokens in one update (the row is locked: it is open)
                assert write.end is not None
                status, result, error = write.end
                ends.append(
                    (tokens_in, tokens_out, TaskStatus(status).value, result, error, at, at,
                     write.task_id)
                )  # fmt: skip
            elif added:
                tokens.append((tokens_in, tokens_out, at, write.task_id))
            results.append(recorded if write.end is None else (recorded, ends_now))
        if tokens:
            cursor.rows(conn, self._add_tokens, tokens, many=True)
        if ends:
            cursor.rows(conn, self._finish, ends, many=True)
        return results, agents

    def _recorded_step(self, conn: Connection, task_id: str, step: NewStep) -> StepRecord:
        """The step already recorded at ``step.seq``, which must be of the same kind."""
        (row,) = cursor.rows(conn, self._step, (task_id, step.seq))
        kind = row[2]
        if kind != step.kind:
            raise StoreError(
                f"step {step.seq} of task {task_id} is already recorded as {kind!r}, "
                f"not {step.kind!r}; two workers are running this task, or a replay diverged"
            )
        return StepRecord(
            task_id=row[0],
            seq=int(row[1]),
            kind=kind,
            data=loads(row[3], f"step {row[1]} of task {row[0]}"),
            input_tokens=int(row[4]),
            output_tokens=int(row[5]),
            latency_ms=float(row[6]),
            created_at=self.dialect.read_time(row[7]),
            data_json=row[3],
        )

    # plumbing

    def _in(self, sql: str, ids: Sequence[str]) -> str:
        return sql.replace("{ids}", ", ".join([self.dialect.mark] * len(ids)))

    @staticmethod
    def _insert(
        conn: Connection, sql: str, row: str, params: list[tuple[Any, ...]]
    ) -> list[tuple[Any, ...]]:
        """Run a multi-row ``INSERT ... RETURNING`` ``sql`` (``{rows}`` stands for its VALUES
        rows) for ``params``, a few hundred rows a statement; the rows returned."""
        out: list[tuple[Any, ...]] = []
        for start in range(0, len(params), ROWS_PER_INSERT):
            chunk = params[start : start + ROWS_PER_INSERT]
            flat = tuple(chain.from_iterable(chunk))
            statement = sql.replace("{rows}", ", ".join([row] * len(chunk)))
            out.extend(cursor.rows(conn, statement, flat))
        return out
