"""One agent's memory, as its worker uses it: tools for the model, context for each task.

:class:`AgentMemory` ties the project's :class:`~.service.Memory` to one agent and the stores it
lists. The agent loop calls it at the edges of a task (:meth:`AgentMemory.enter` when it takes
the task, :meth:`~AgentMemory.context` before the first model call, :meth:`~AgentMemory.completed`
with the answer, :meth:`~AgentMemory.ended` when the task is over) and the worker offers
:meth:`~AgentMemory.tools` next to the agent's own tools. Summaries of long conversations (a
session store with ``strategy: summarize``) are written by the agent's own model.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from agentform.contract import MemoryValue
from agentform.runtime.conversation import Message, ModelResponse, ToolSpec
from agentform.runtime.memory.context import end_task, record_turns, start_context
from agentform.runtime.memory.tools import CURRENT_TASK, MemoryTools
from agentform.runtime.store.memory.config import InvalidScope, StoreConfig, TaskScope
from agentform.runtime.store.memory.service import Memory, MemoryStoreError
from agentform.runtime.store.records import TaskRecord

__all__ = ["AgentMemory", "open_agent_memory"]

log = logging.getLogger("agentform.memory")

SUMMARY_PROMPT = (
    "Summarise the conversation below for your own later use: the facts, names, numbers,"
    " decisions and open questions, in a few sentences. Do not add anything that is not there."
)


class _Model(Protocol):
    async def complete(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec]
    ) -> ModelResponse: ...


class AgentMemory:
    def __init__(
        self, memory: Memory, agent: str, stores: Sequence[str], model: _Model | None = None
    ) -> None:
        self.memory = memory
        self.agent = agent
        self.stores = list(stores)
        self.model = model

    def scope(self, task: TaskRecord) -> TaskScope:
        return TaskScope(self.agent, task.id, task.context_id, dict(task.inputs))

    def tools(self) -> MemoryTools:
        return MemoryTools(self.memory, self.agent, self.stores)

    def enter(self, task: TaskRecord) -> None:
        """Make ``task`` the one this asyncio task's memory tools act for."""
        CURRENT_TASK.set(self.scope(task))

    async def _summarize(self, turns: list[dict[str, str]]) -> str:
        assert self.model is not None
        transcript = "\n".join(f"{t['role']}: {t['content']}" for t in turns)
        answer = await self.model.complete(
            [Message("system", SUMMARY_PROMPT), Message("user", transcript)], []
        )
        return answer.text

    async def context(self, task: TaskRecord) -> list[dict[str, str]]:
        summarize = self._summarize if self.model is not None else None
        return await start_context(
            self.memory, self.stores, self.scope(task), task.input, summarize=summarize
        )

    async def completed(self, task: TaskRecord, answer: str) -> None:
        # the answer stands even if the conversation cannot be extended (a task with no scope
        # key, a full store that refuses): that is logged, not a reason to run the task again
        try:
            await record_turns(self.memory, self.stores, self.scope(task), task.input, answer)
        except (InvalidScope, MemoryStoreError) as exc:
            log.warning("task %s: the exchange was not added to session memory: %s", task.id, exc)

    async def ended(self, task: TaskRecord) -> None:
        try:
            await end_task(self.memory, self.stores, self.scope(task))
        except MemoryStoreError as exc:  # the sweep deletes what is left once it expires
            log.warning("task %s: its working memory was not deleted: %s", task.id, exc)

    def close(self) -> None:
        self.memory.close()


def open_agent_memory(
    store_url: str,
    stores: Mapping[str, MemoryValue | Mapping[str, Any]],
    agent: str,
    model: _Model | None = None,
) -> AgentMemory | None:
    """The agent's memory (``None`` when it lists no store); the schema must be up to date."""
    if not stores:
        return None
    configs = {
        name: StoreConfig.of(name, v)
        if isinstance(v, MemoryValue)
        else StoreConfig.from_values(name, v)
        for name, v in stores.items()
    }
    memory = Memory(store_url, configs)
    if any(c.search != "fulltext" for c in configs.values()):
        memory.embedder()  # load the model before the worker says it is ready, not at a recall
    return AgentMemory(memory, agent, list(configs), model)
