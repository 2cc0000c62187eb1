"""The steps of a task in the runtime store: recorded one transaction at a time, or together
with other tasks' writes (group commit), and read back in order.

A worker writes each step before it acts on it (:mod:`agentform.runtime.worker.loop`): the steps not
written yet and the new one in one INSERT, their tokens added to the task in one UPDATE, and
the last steps together with the task's end. Re-recording a step with the same kind returns it
as recorded (a replay); a different kind at a recorded ``seq`` is a :class:`StoreError`. Part of
:class:`~agentform.runtime.store.RuntimeStore`, which adds tasks and dead letters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, select

from agentform.runtime.audit import AuditEvent, events_of_step
from agentform.runtime.store.audit import append as append_audit
from agentform.runtime.store.batch import STEPS, Grouped
from agentform.runtime.store.records import (
    TERMINAL,
    NewStep,
    StepRecord,
    TaskStatus,
    step_from_row,
)
from agentform.runtime.store.setwise import StepsWrite
from agentform.runtime.store.tables import steps_table
from agentform.runtime.store.transactions import StoreBase

__all__ = ["StepStore", "StepsWrite", "utc_now"]


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
        step = NewStep(seq, kind, data, input_tokens, output_tokens, latency_ms)
        return self.append_steps(task_id, [step])[0]

    def append_steps(self, task_id: str, steps: Sequence[NewStep]) -> list[StepRecord]:
        """Record several steps in one transaction (all or none); re-recording is harmless."""
        return cast(
            list[StepRecord], self._write_now(self._steps_write(StepsWrite(task_id, steps)))
        )

    async def append_steps_batched(
        self, task_id: str, steps: Sequence[NewStep]
    ) -> list[StepRecord]:
        """:meth:`append_steps` in a transaction shared with other tasks' writes."""
        write = self._steps_write(StepsWrite(task_id, steps))
        return cast(list[StepRecord], await self._write_later(write))

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
        write = self._steps_write(_finishing(task_id, steps, status, result, error))
        return cast(tuple[list[StepRecord], bool], self._write_now(write))

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
        write = self._steps_write(_finishing(task_id, steps, status, result, error))
        return cast(tuple[list[StepRecord], bool], await self._write_later(write))

    def _steps_write(self, write: StepsWrite) -> Grouped:
        return Grouped(self._record_steps, write, write.task_id, STEPS)

    def _record_steps(self, conn: Connection, writes: list[StepsWrite]) -> list[Any]:
        now = utc_now()
        results, agents = self._sql.record_steps(conn, writes, now)
        # the audit records the new steps imply, in this transaction: a step and its record
        # exist together; a replayed step (recorded before) comes back with its own time
        events: list[AuditEvent] = []
        for write, result in zip(writes, results, strict=True):
            recorded = result if write.end is None else result[0]
            agent = agents.get(write.task_id)
            for step in recorded:
                if step.created_at is now:  # not one recorded before
                    events.extend(
                        events_of_step(
                            write.task_id, step.kind, step.data, f"agent:{agent or '?'}", agent
                        )
                    )
        if events:  # most steps imply none (a model's answer, a start): no append
            append_audit(conn, events)
        return results

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


def _finishing(
    task_id: str,
    steps: Sequence[NewStep],
    status: TaskStatus,
    result: str | None,
    error: str | None,
) -> StepsWrite:
    if TaskStatus(status) not in TERMINAL:
        raise ValueError(f"finish_with_steps needs a terminal status, not {status!r}")
    return StepsWrite(task_id, steps, (TaskStatus(status), result, error))
