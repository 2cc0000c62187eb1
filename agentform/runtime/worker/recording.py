"""Writing a task's steps: what the agent loop records before it acts, and tells followers.

:class:`Recording` is the part of :class:`~agentform.runtime.worker.loop.AgentLoop` that writes:
a step with every step not written yet (:meth:`~Recording._record`: the one rule, recorded
before it is acted on), the steps held back for the next write (:meth:`~Recording._flush`), the
last steps with the task's end in one transaction (:meth:`~Recording._finish`), and what the
model hears of a call (:meth:`~Recording._tool_result`: screened by the content filters first,
with the time it waited for humans). Values of sensitive variables are masked in all of them;
followers hear of each write (``notify``). The loop's other parts build on it:
:mod:`.guards`, then :mod:`.calls`, then :mod:`.loop`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from agentform.runtime.conversation import ToolCall
from agentform.runtime.policy.filters import ContentFilters, Place
from agentform.runtime.store import NewStep, RuntimeStore, StepRecord, TaskRecord, TaskStatus
from agentform.runtime.worker.outcome import Notify
from agentform.runtime.worker.progress import Progress, apply_step
from agentform.runtime.worker.sensitive import Sensitive

__all__ = ["Recording"]


class Recording:
    """Step writing for one agent's loop (the store, masking, filters and followers are the
    loop's: :class:`~agentform.runtime.worker.loop.AgentLoop` sets them)."""

    store: RuntimeStore
    sensitive: Sensitive
    filters: ContentFilters
    notify: Notify | None

    async def _finish(
        self,
        task_id: str,
        last: NewStep,
        progress: Progress | None,
        *,
        result: str | None = None,
        error: str | None = None,
    ) -> list[StepRecord]:
        """The steps not written yet, the last step and the task's end, in one transaction;
        the steps to announce with the task's end."""
        status = TaskStatus.FAILED if error is not None else TaskStatus.COMPLETED
        steps = self.sensitive.steps([*(progress.unwritten if progress is not None else ()), last])
        recorded, _ = await self.store.finish_with_steps_batched(
            task_id, steps, status, result=result, error=error
        )
        if progress is not None:
            progress.unwritten.clear()
        return [step for step in recorded if step.kind != "start"]  # announced when taken

    async def _record(
        self,
        task_id: str,
        seq: int,
        kind: str,
        data: Mapping[str, Any],
        progress: Progress,
        **usage: Any,
    ) -> StepRecord:
        """Write the step (with any not written yet) before the caller acts on it."""
        steps = self.sensitive.steps([*progress.unwritten, NewStep(seq, kind, data, **usage)])
        recorded = await self.store.append_steps_batched(task_id, steps)
        progress.unwritten.clear()
        await self._announce(recorded, written=True)
        return recorded[-1]

    async def _flush(self, task_id: str, progress: Progress | None) -> None:
        """Write the steps held back for the next write (a model's answer, a safe call's
        result) now: something is about to act that is not a step, or the task stops here."""
        if progress is not None and progress.unwritten:
            recorded = await self.store.append_steps_batched(
                task_id, self.sensitive.steps(progress.unwritten)
            )
            progress.unwritten.clear()
            await self._announce(recorded, written=True)

    async def _announce(self, steps: list[StepRecord], *, written: bool = False) -> None:
        """Tell followers; the start step was announced when it was taken (``written``: these
        steps were just written)."""
        if self.notify is not None:
            told = [step for step in steps if not (written and step.kind == "start")]
            if told:
                await self.notify(told)

    async def _tool_result(
        self,
        task: TaskRecord,
        progress: Progress,
        call: ToolCall,
        content: str,
        is_error: bool,
        latency: float,
        decision: Mapping[str, Any] | None = None,
        *,
        screen: Place | None = None,
        defer: bool = False,
    ) -> None:
        """Record what the model hears of ``call`` (``screen``: a result the content filters
        see first; a refusal made here is not) and fold it into the progress (``defer``: the
        result of a call safe to repeat, written with the next step: a crash before then
        makes the call again with the same idempotency key)."""
        filtered = None
        if screen is not None and self.filters.applies(screen):
            screened = self.filters.screen(screen, content)
            if screened.hits:
                filtered = screened.record(call=call.id, function=call.name)
                blocked = screened.blocked is not None
                content = screened.refusal() if blocked else str(screened.value)
                is_error = is_error or blocked
        data: dict[str, Any] = {
            "id": call.id,
            "name": call.name,
            "content": content,
            "is_error": is_error,
        }
        if decision is not None:
            data["decision"] = dict(decision)
        if filtered:
            data["filtered"] = filtered
        waited = progress.call_waits.pop(call.id, 0.0)
        if waited:
            # recorded, so a replay takes it off the wall time too; counted already
            data["waited"] = round(waited, 3)
            progress.waited -= round(waited, 3)  # apply_step below adds it back
        if defer:
            new = NewStep(progress.seq, "tool_result", data, latency_ms=latency)
            (kept,) = self.sensitive.steps([new])
            progress.unwritten.append(kept)
            step = StepRecord(
                task.id, kept.seq, kept.kind, dict(kept.data), 0, 0, latency, _utcnow()
            )
        else:
            step = await self._record(
                task.id, progress.seq, "tool_result", data, progress, latency_ms=latency
            )
        apply_step(progress, step)
        progress.seq += 1


def _utcnow() -> datetime:
    return datetime.now(UTC)
