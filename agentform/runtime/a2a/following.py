"""Following a task over A2A: the task, then its steps (for a caller who may see its trace) and
its status changes as A2A events, until it ends or needs input.

:class:`Following` is the part of the request handler
(:class:`~agentform.runtime.a2a.handler.EngineRequestHandler`) behind ``message/stream`` and
``tasks/resubscribe``: woken by the workers' announcements (the engine's ``watch``), and reading
the store again every half second in case one was missed, so no step and no end is skipped. Who
sees the steps: the caller who sent the task, or a holder of ``read:traces``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator

from a2a.server.context import ServerCallContext
from a2a.server.events.event_queue import Event
from a2a.utils.errors import InternalError

from agentform.runtime.a2a import mapping
from agentform.runtime.a2a.gateway import EngineGateway
from agentform.runtime.store import TERMINAL, RuntimeStore, StepRecord, TaskRecord, TaskStatus

__all__ = ["ENDS", "Following", "subject_of"]

ENDS = TERMINAL | {TaskStatus.INPUT_REQUIRED}  # a stream ends here: the client acts next


def subject_of(context: ServerCallContext) -> str:
    return context.user.user_name if context.user.is_authenticated else ""


class Following:
    """Task streams for one agent's A2A server (``engine`` is the handler's)."""

    engine: EngineGateway

    def _store(self) -> RuntimeStore:
        if self.engine.store is None:
            raise InternalError(message="the runtime store is not set up; run 'agentform apply'")
        return self.engine.store

    def _traces(self, task: TaskRecord, context: ServerCallContext) -> bool:
        """Whether the caller may see ``task``'s steps (its trace: tool calls, arguments,
        results): it sent the task, or holds ``read:traces`` (resolved onto runtime.store)."""
        subject = subject_of(context)
        grants = (self.engine.resources.get("runtime.store") or {}).get("grants") or {}
        return task.caller == subject or subject in (grants.get("read:traces") or ())

    async def _events(self, task: TaskRecord, traces: bool) -> AsyncIterator[Event]:
        """The task first, then its steps (if ``traces``) and status changes as A2A events,
        until it ends."""
        yield mapping.to_task(task)
        last = task.status
        async for event in self._follow(task.id):
            if isinstance(event, StepRecord):
                if traces:
                    yield mapping.step_event(task, event)
                continue
            task = event
            if task.status == last:
                continue
            last = task.status
            if task.status == TaskStatus.COMPLETED and task.result is not None:
                yield mapping.answer_event(task)
            yield mapping.status_event(task)

    async def _follow(self, task_id: str) -> AsyncGenerator[StepRecord | TaskRecord]:
        """Recorded steps and the task whenever it changed, until it ends or needs input."""
        wake = asyncio.Event()

        async def on_event() -> None:
            wake.set()

        unwatch = await self.engine.watch(task_id, on_event)
        store = self._store()
        seen = -1
        try:
            while True:
                # the status first: a task seen ended has all its steps written (see the
                # control API's follow), so none of its last steps is skipped
                task = await asyncio.to_thread(store.get_task, task_id)
                for step in await asyncio.to_thread(store.steps, task_id, after=seen):
                    seen = step.seq
                    yield step
                if task is None:
                    return
                yield task
                if task.status in ENDS:
                    return
                # woken by a worker's announcement; polled anyway in case one was missed
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), 0.5)
                wake.clear()
        finally:
            if unwatch is not None:
                with contextlib.suppress(Exception):
                    await unwatch()
