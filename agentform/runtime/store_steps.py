"""The steps of a task in the runtime store: recorded one transaction at a time, or together
with other tasks' writes (group commit), and read back in order.

A worker writes each step before it acts on it (:mod:`agentform.runtime.loop`): the steps not
written yet and the new one in one INSERT, their tokens added to the task in one UPDATE, and
the last steps together with the task's end. Re-recording a step with the same kind returns it
as recorded (a replay); a different kind at a recorded ``seq`` is a :class:`StoreError`. Part of
:class:`~agentform.runtime.store.RuntimeStore`, which adds tasks and dead letters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from agentform.runtime.records import (
    TERMINAL,
    NewStep,
    StepRecord,
    StoreError,
    TaskStatus,
    dumps,
    step_from_row,
)
from agentform.runtime.store_base import StoreBase
from agentform.runtime.store_statements import ADD_TOKENS, FINISH, finish_values
from agentform.runtime.store_tables import steps_table

__all__ = ["StepStore", "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)


class StepStore(StoreBase):
    """The step operations of the runtime store."""

    def append_step(
        self,
        task_id: str,
        seq: int,
        kind: str,
        data: Mapping[str, Any],
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        latency_ms: float = 0.0,
    ) -> StepRecord:
        """Record step ``seq`` and add its tokens to the task; re-recording it is harmless."""
        with self._begin() as conn:
            step = NewStep(seq, kind, data, input_tokens, output_tokens, latency_ms)
            return self._append_all(conn, task_id, [step])[0]

    def append_steps(self, task_id: str, steps: Sequence[NewStep]) -> list[StepRecord]:
        """Record several steps in one transaction (all or none); re-recording is harmless."""
        with self._begin() as conn:
            return self._append_all(conn, task_id, steps)

    async def append_steps_batched(
        self, task_id: str, steps: Sequence[NewStep]
    ) -> list[StepRecord]:
        """:meth:`append_steps` in a transaction shared with other tasks' writes."""
        return await self.write(lambda conn: self._append_all(conn, task_id, steps))

    def finish_with_steps(
        self,
        task_id: str,
        steps: Sequence[NewStep],
        status: TaskStatus,
        *,
        result: str | None = None,
        error: str | None = None,
    ) -> tuple[list[StepRecord], bool]:
        """Record the last steps (ending with ``final``/``error``) and finish the task in one
        transaction; returns the steps and whether the status changed."""
        if TaskStatus(status) not in TERMINAL:
            raise ValueError(f"finish_with_steps needs a terminal status, not {status!r}")
        with self._begin() as conn:
            return self._finish_with_steps(conn, task_id, steps, status, result, error)

    async def finish_with_steps_batched(
        self,
        task_id: str,
        steps: Sequence[NewStep],
        status: TaskStatus,
        *,
        result: str | None = None,
        error: str | None = None,
    ) -> tuple[list[StepRecord], bool]:
        """:meth:`finish_with_steps` in a transaction shared with other tasks' writes."""
        if TaskStatus(status) not in TERMINAL:
            raise ValueError(f"finish_with_steps needs a terminal status, not {status!r}")
        return await self.write(
            lambda conn: self._finish_with_steps(conn, task_id, steps, status, result, error)
        )

    def _finish_with_steps(
        self,
        conn: Connection,
        task_id: str,
        steps: Sequence[NewStep],
        status: TaskStatus,
        result: str | None,
        error: str | None,
    ) -> tuple[list[StepRecord], bool]:
        recorded = self._append_all(conn, task_id, steps)
        changed = conn.execute(FINISH, finish_values(task_id, status, result, error)).rowcount
        return recorded, changed == 1

    def _append_all(
        self, conn: Connection, task_id: str, steps: Sequence[NewStep]
    ) -> list[StepRecord]:
        """Insert ``steps``, then add the tokens of those that were new to the task's totals in
        one update; a step already recorded with the same kind is returned as it was."""
        if not steps:
            return []
        now = utc_now()
        rows = [
            {
                "task_id": task_id,
                "seq": step.seq,
                "kind": step.kind,
                "data": dumps(dict(step.data), f"step {step.seq} of task {task_id}"),
                "input_tokens": step.input_tokens,
                "output_tokens": step.output_tokens,
                "latency_ms": step.latency_ms,
                "created_at": now,
            }
            for step in steps
        ]
        # one INSERT for all of them (several VALUES rows); the rows that were new come back
        result = conn.execute(self._step_insert, rows[0] if len(rows) == 1 else rows)
        inserted = {row.seq: row for row in result}
        recorded: list[StepRecord] = []
        tokens_in = tokens_out = new = 0
        for step in steps:
            row = inserted.pop(step.seq, None)  # a seq given twice: the second is a re-record
            if row is None:
                recorded.append(self._recorded_step(conn, task_id, step))
                continue
            recorded.append(step_from_row(row))
            tokens_in += step.input_tokens
            tokens_out += step.output_tokens
            new += 1
        if new:
            values = {"tid": task_id, "tin": tokens_in, "tout": tokens_out, "at": now}
            if conn.execute(ADD_TOKENS, values).rowcount != 1:
                seqs = ", ".join(str(step.seq) for step in steps)
                raise StoreError(f"no task {task_id} to record step {seqs} for; create it first")
        return recorded

    @staticmethod
    def _recorded_step(conn: Connection, task_id: str, step: NewStep) -> StepRecord:
        """The step already recorded at ``step.seq``, which must be of the same kind."""
        query = select(steps_table).where(
            steps_table.c.task_id == task_id, steps_table.c.seq == step.seq
        )
        existing = step_from_row(conn.execute(query).one())
        if existing.kind != step.kind:
            raise StoreError(
                f"step {step.seq} of task {task_id} is already recorded as {existing.kind!r}, "
                f"not {step.kind!r}; two workers are running this task, or a replay diverged"
            )
        return existing

    def steps(self, task_id: str, *, after: int = -1) -> list[StepRecord]:
        """The task's steps with ``seq > after``, in order."""
        query = (
            select(steps_table)
            .where(steps_table.c.task_id == task_id, steps_table.c.seq > after)
            .order_by(steps_table.c.seq)
        )
        with self._begin(read=True) as conn:
            rows = conn.execute(query).all()
        return [step_from_row(row) for row in rows]
