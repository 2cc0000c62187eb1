"""Group commit: the store writes that a worker's tasks ask for together, in one transaction.

A worker runs up to ``concurrency`` tasks at once, and they move in step: a fetch brings a batch
of messages, and every task starts, then records its answer, at about the same moment. Each
write on its own is a transaction, and on SQLite the commit (writing the changed pages to the
WAL) costs more than the statements in it; the transaction's set-up (the process's writer lock,
a pooled connection, ``BEGIN IMMEDIATE``) costs about as much again. :class:`WriteBatch` collects
the writes asked for during one turn of the event loop and runs them, in the order asked, in one
transaction; each caller gets its own result once that transaction has committed, so "recorded
before it is acted on" holds as before.

If the shared transaction fails (one write raised, the database refused), it rolled back, and
every write of the batch runs again in a transaction of its own, in the same order: each caller
gets exactly the result or error it would have had alone. Writes are the store's own
compare-and-set and insert-or-keep operations, so running one again after a rollback is safe.
Used by :class:`~agentform.runtime.store_base.StoreBase`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from sqlalchemy import Connection

__all__ = ["MAX_BATCH", "WriteBatch"]

T = TypeVar("T")
Op = Callable[[Connection], Any]

MAX_BATCH = 256  # writes per transaction: a longer one would hold SQLite's write lock too long


class WriteBatch:
    """Writes asked for in one turn of the event loop, run in one transaction."""

    def __init__(
        self,
        begin: Callable[[], AbstractContextManager[Connection]],
        run: Callable[[Callable[[], Any]], Awaitable[Any]],
    ) -> None:
        self._begin = begin  # a write transaction
        self._run = run  # how the store calls blocking code from asyncio (inline or a thread)
        self._pending: list[tuple[Op, asyncio.Future[Any]]] = []
        self._flushing: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.transactions = 0  # committed shared transactions (for tests and benchmarks)

    async def write(self, op: Callable[[Connection], T]) -> T:
        """Run ``op(conn)`` in a write transaction, shared with the writes asked for beside it."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # writes left from an event loop that ended before it flushed them: nobody waits
            # for them any more (a store used by one asyncio.run after another)
            self._loop, self._pending = loop, []
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((op, future))
        if len(self._pending) == 1:
            loop.call_soon(self._start)  # after the other tasks ready in this turn have asked
        return await future

    def _start(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            flush = asyncio.ensure_future(self._flush(batch))
            self._flushing.add(flush)
            flush.add_done_callback(self._flushing.discard)

    async def _flush(self, batch: list[tuple[Op, asyncio.Future[Any]]]) -> None:
        def together() -> list[Any]:
            with self._begin() as conn:
                return [op(conn) for op, _ in batch]

        try:
            results = await self._run(together) if len(batch) > 1 else None
        except Exception:
            results = None  # rolled back: each on its own, below
        if results is not None:
            self.transactions += 1
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
            return
        # a caller that stopped waiting (canceled) still gets its write: running it is harmless
        for op, future in batch:
            try:
                result = await self._run(functools.partial(self._once, op))
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(result)

    def _once(self, op: Op) -> Any:
        with self._begin() as conn:
            return op(conn)
