"""Memory as an agent gets it: tools, history and injected facts at the edges of a task.

* :mod:`.tools`: the memory tools offered to the model (remember, recall, forget ...);
* :mod:`.context`: a conversation's history and the facts injected at the start of a task;
* :mod:`.agent`: one agent's memory, put together for its worker (:class:`TaskMemory` is what the
  agent loop needs of it).

The stores themselves, their rules and their SQL are in :mod:`agentform.runtime.store.memory`,
one layer down. See ``docs/memory.md``.
"""

from __future__ import annotations

from typing import Protocol

from agentform.runtime.store.records import TaskRecord

__all__ = ["TaskMemory"]


class TaskMemory(Protocol):
    """An agent's memory at the edges of a task (:mod:`agentform.runtime.memory.agent`)."""

    def enter(self, task: TaskRecord) -> None: ...

    async def context(self, task: TaskRecord) -> list[dict[str, str]]: ...

    async def completed(self, task: TaskRecord, answer: str) -> None: ...

    async def ended(self, task: TaskRecord) -> None: ...
