"""Group commit: the store writes that a worker's tasks ask for together, in one transaction,
and writes of one kind run set-wise (one statement for all of them).

A worker runs up to ``concurrency`` tasks at once, and they move in step: a fetch brings a batch
of messages, and every task starts, then records its answer, at about the same moment. Each
write on its own is a transaction, and on SQLite the commit (writing the changed pages to the
WAL) costs more than the statements in it; the transaction's set-up (the process's writer lock,
a pooled connection, ``BEGIN IMMEDIATE``) costs about as much again. :class:`WriteBatch` collects
the writes asked for during one turn of the event loop and runs them in one transaction; each
caller gets its own result once that transaction has committed, so "recorded before it is acted
on" holds as before.

Most writes are :class:`Grouped`: one of a kind (start a task, record steps, create a task) that
the store runs for many tasks at once: one ``INSERT`` of every task's steps, one ``UPDATE ...
WHERE id IN (...)`` starting every task, instead of a few statements per task (statements cost
more in SQLAlchemy than in SQLite). Writes asked for at the same moment have no order between
them, so the batch may run them in any order that is one after the other: it runs the writes of
a *segment* (consecutive writes of distinct tasks) kind by kind, ending tasks before starting
others (a task that ends lets the next message of its conversation start at once); a second
write for a task already in the segment starts a new segment, so one task's writes run in the
order asked. A plain callable (any other write) is a segment of its own.

Under load a batch lingers: when the batch before it held :data:`SIBLINGS` writes or more
(many tasks are writing), it lets the event loop run a few turns (:data:`LINGER_TURNS`) before
it begins, and again as long as each round brings more writes, up to :data:`LINGER_S` or until
it holds :data:`MAX_BATCH`, in the spirit of PostgreSQL's ``commit_delay`` when
``commit_siblings`` transactions are open. Tasks that wait on a tool call do not move in step:
their results come back a few at a time, and each task writes on its own turn of the loop. The
linger is never an idle wait: it used to sleep LINGER_S, which saved transactions when answers
trickled in but held every task's write 2 ms while the worker had nothing else to do, and cost
a worker with 64 tasks at once 28 % of its tasks a second (``benchmarks/README.md``). One task
alone never waits (its batches hold one write).

If the shared transaction fails (one write raised, the database refused), it rolled back, and
every write of the batch runs again in a transaction of its own, in the same order: each caller
gets exactly the result or error it would have had alone. Writes are the store's own
compare-and-set and insert-or-keep operations, so running one again after a rollback is safe.
Used by :class:`~agentform.runtime.store.transactions.StoreBase`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection

from agentform.runtime.store.inline import StoreBusy

__all__ = [
    "CREATES",
    "LINGER_S",
    "LINGER_TURNS",
    "MAX_BATCH",
    "SIBLINGS",
    "STARTS",
    "STEPS",
    "Grouped",
    "WriteBatch",
    "run_writes",
]

T = TypeVar("T")
Op = Callable[[Connection], Any]

MAX_BATCH = 256  # writes per transaction: a longer one would hold SQLite's write lock too long
# the order kinds run in within a segment: steps and ends first (a task that ends lets the next
# message of its conversation start at once), then new tasks, then starts
STEPS, CREATES, STARTS = 0, 1, 2
BUSY_RETRY_S = 0.001  # how often a batch tries again while another process writes (SQLite)
BUSY_WAIT_S = 1.0  # then it waits on a thread, with the database's full busy timeout
# a batch after one of SIBLINGS writes or more lingers while more writes join, LINGER_TURNS
# turns of the event loop at a time (what became ready in one turn runs in the next), and no
# longer than LINGER_S
SIBLINGS = 4
LINGER_TURNS = 2
LINGER_S = 0.002


@dataclass(frozen=True, slots=True)
class Grouped:
    """One write of a kind the store runs for many tasks at once.

    ``run(conn, items)`` returns one result per item, in order, as if each had run alone one
    after the other (it may raise for all: the batch then runs each alone). ``key`` names the
    task written: two writes of one task never run in one call. Kinds run in ``rank`` order
    within a segment (lower first)."""

    run: Callable[[Connection, list[Any]], list[Any]]
    item: Any
    key: str
    rank: int = 0


Write = Op | Grouped


def run_writes(conn: Connection, writes: Sequence[Write]) -> list[Any]:
    """Run ``writes`` on ``conn`` (one transaction), grouped as the module says; their results
    in the order given."""
    results: list[Any] = [None] * len(writes)
    segment: list[int] = []
    keys: set[str] = set()
    for index, write in enumerate(writes):
        if not isinstance(write, Grouped):
            _run_segment(conn, writes, segment, results)
            segment, keys = [], set()
            results[index] = write(conn)
            continue
        if write.key in keys:
            _run_segment(conn, writes, segment, results)
            segment, keys = [], set()
        segment.append(index)
        keys.add(write.key)
    _run_segment(conn, writes, segment, results)
    return results


def _run_segment(
    conn: Connection, writes: Sequence[Write], segment: list[int], results: list[Any]
) -> None:
    kinds: dict[Callable[..., Any], list[int]] = {}
    ranks: dict[Callable[..., Any], int] = {}
    for index in segment:
        write = writes[index]
        assert isinstance(write, Grouped)
        kinds.setdefault(write.run, []).append(index)
        ranks[write.run] = write.rank
    for run in sorted(kinds, key=ranks.__getitem__):  # stable: first asked first among equals
        indexes = kinds[run]
        items = []
        for index in indexes:
            write = writes[index]
            assert isinstance(write, Grouped)
            items.append(write.item)
        answers = run(conn, items)
        if len(answers) != len(indexes):
            raise RuntimeError(f"{run!r} returned {len(answers)} results for {len(items)} writes")
        for index, answer in zip(indexes, answers, strict=True):
            results[index] = answer


class WriteBatch:
    """Writes asked for in one turn of the event loop, run in one transaction.

    One transaction at a time: the writes asked for while one runs (on a thread) or waits for
    the database go in the next, which is then larger. On SQLite the transaction runs on the
    event loop (``inline``: it raises :class:`~agentform.runtime.store.inline.StoreBusy` at once
    when another process holds the file's lock); while the lock is taken the batch waits
    without holding the loop, tries again every :data:`BUSY_RETRY_S`, and takes in the writes
    asked for meanwhile; after :data:`BUSY_WAIT_S` it waits on a thread instead.
    """

    def __init__(
        self,
        begin: Callable[[], AbstractContextManager[Connection]],
        run: Callable[[Callable[[], Any]], Awaitable[Any]],
        inline: Callable[[Callable[[], Any]], Any] | None = None,
    ) -> None:
        self._begin = begin  # a write transaction
        self._run = run  # how the store calls blocking code from asyncio (inline or a thread)
        self._inline = inline  # run now on this thread, or raise StoreBusy
        self._pending: list[tuple[Write, asyncio.Future[Any]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.transactions = 0  # committed shared transactions (for tests and benchmarks)
        self.busy = 0  # times a batch found the database locked and waited
        self._last = 0  # the writes of the batch before: many means many tasks are writing

    async def write(self, op: Write) -> Any:
        """Run ``op`` (a :class:`Grouped` write, or ``op(conn)``) in a write transaction, shared
        with the writes asked for beside it; its result once committed."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # writes left from an event loop that ended before it flushed them: nobody waits
            # for them any more (a store used by one asyncio.run after another)
            self._loop, self._pending, self._drainer = loop, [], None
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((op, future))
        if len(self._pending) == 1:
            # after the other tasks ready in this turn, and those one hop behind them (a task
            # that published an event first), have asked
            loop.call_soon(loop.call_soon, self._start)
        return await future

    def _start(self) -> None:
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        while self._pending:
            if self._last >= SIBLINGS and len(self._pending) < MAX_BATCH:
                await self._linger()
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            self._last = len(batch)
            await self._flush(batch)

    async def _linger(self) -> None:
        """Wait while other tasks' writes keep joining the batch: a few turns of the event loop
        at a time, until a round brings no new write, the batch is full, or LINGER_S passed.
        Never an idle wait: a worker whose tasks wait on something else begins at once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LINGER_S
        while len(self._pending) < MAX_BATCH and loop.time() < deadline:
            before = len(self._pending)
            for _ in range(LINGER_TURNS):
                await asyncio.sleep(0)
            if len(self._pending) == before:
                return

    async def _flush(self, batch: list[tuple[Write, asyncio.Future[Any]]]) -> None:
        try:
            results = await self._together(batch)
        except Exception as exc:
            if len(batch) == 1:  # it ran alone: that is its answer
                _, future = batch[0]
                if not future.done():
                    future.set_exception(exc)
                return
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

    async def _together(self, batch: list[tuple[Write, asyncio.Future[Any]]]) -> list[Any]:
        """Run ``batch`` in one transaction; on SQLite, writes asked for while it waits for the
        database join it (``batch`` grows)."""

        def together() -> list[Any]:
            with self._begin() as conn:
                return run_writes(conn, [op for op, _ in batch])

        if self._inline is None:
            return list(await self._run(together))
        loop = asyncio.get_running_loop()
        give_up = loop.time() + BUSY_WAIT_S
        while True:
            try:
                return list(self._inline(together))
            except StoreBusy:
                self.busy += 1
                if loop.time() > give_up:
                    return list(await self._run(together))
            await asyncio.sleep(BUSY_RETRY_S)
            room = MAX_BATCH - len(batch)
            batch.extend(self._pending[:room])
            del self._pending[:room]

    def _once(self, op: Write) -> Any:
        with self._begin() as conn:
            return run_writes(conn, [op])[0]
