"""Memory: what agents remember (``memory`` in the spec), kept in the runtime store.

* :mod:`.tables`, :mod:`.schema`, :mod:`.migrations`: the SQL schema and its Alembic migrations;
* :mod:`.config`: a store's rules (:class:`~.config.StoreConfig`) and scope keys;
* :mod:`.entries`, :mod:`.service`: entries and :class:`~.service.Memory`, which reads and writes
  them under the rules (access, redaction by :mod:`.redact`, caps, expiry, compare-and-set);
* :mod:`.search`, :mod:`.embeddings`: full-text and semantic ranking;
* :mod:`.tools`, :mod:`.context`, :mod:`.agent`: what a worker's agent gets (tools, history and
  injected facts at the start of a task);
* :mod:`.stores`, :mod:`.admin`: the engine's and the operator's side (migrations at apply,
  sweeps, usage, export/import, forgetting a person).

See ``docs/memory.md``.
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
