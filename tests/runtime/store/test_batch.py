"""Group commit: writes asked for together share one transaction, and every caller gets what
it would have got alone, also when one write of the batch fails (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event

from agentform.runtime.store import NewStep, RuntimeStore, StoreError, TaskStatus, Turn
from agentform.runtime.store import batch as store_batch
from tests.runtime.stalls import loop_gaps


@pytest.fixture
def store(runtime_url: str) -> Iterator[RuntimeStore]:
    with RuntimeStore(runtime_url) as opened:
        yield opened


def _commits(store: RuntimeStore) -> list[int]:
    counted = [0]
    engine: Any = store._engine

    def commit(_conn: Any) -> None:
        counted[0] += 1

    event.listen(engine, "commit", commit)
    return counted


def test_writes_asked_together_share_one_transaction(store: RuntimeStore) -> None:
    commits = _commits(store)

    async def main() -> list[Turn]:
        create = {"agent": "a", "input": "hi", "context_id": None}
        return await asyncio.gather(
            *(
                store.start_turn_batched(f"t{i}", "w", create=create, recorded=False)
                for i in range(20)
            )
        )

    turns = asyncio.run(main())
    assert [t.task.id if t.task else None for t in turns] == [f"t{i}" for i in range(20)]
    assert all(t.task is not None and t.task.status is TaskStatus.WORKING for t in turns)
    assert commits[0] == 1 and store._batch.transactions == 1


def test_later_writes_of_a_batch_see_the_earlier_ones(store: RuntimeStore) -> None:
    async def main() -> list[Turn]:
        create = {"agent": "a", "input": "x", "context_id": "c"}
        return await asyncio.gather(
            store.start_turn_batched("first", "w", create=create, recorded=False),
            store.start_turn_batched("second", "w", create=create, recorded=False),
        )

    first, second = asyncio.run(main())
    assert first.task is not None and first.task.id == "first"
    # same conversation: the second waits for the first, exactly as one after the other
    assert second.task is None and second.blocker is not None and second.blocker.id == "first"


def test_a_failing_write_fails_alone(store: RuntimeStore) -> None:
    store.create_task(id="t1", agent="a", input="x")
    store.create_task(id="t2", agent="a", input="y")
    store.append_steps("t2", [NewStep(0, "start", {})])
    commits = _commits(store)

    async def main() -> list[Any]:
        return await asyncio.gather(
            store.append_steps_batched("t1", [NewStep(0, "start", {}), NewStep(1, "model", {})]),
            # conflicts with the recorded start step of t2: a StoreError, for this caller only
            store.append_steps_batched("t2", [NewStep(0, "model", {})]),
            store.finish_with_steps_batched(
                "t1", [NewStep(2, "final", {"text": "ok"})], TaskStatus.COMPLETED, result="ok"
            ),
            return_exceptions=True,
        )

    steps, failed, (finished, changed) = asyncio.run(main())
    # the shared transaction rolled back; then each write alone (the failed one commits nothing)
    assert commits[0] == 2
    assert [s.kind for s in steps] == ["start", "model"]
    assert isinstance(failed, StoreError) and "already recorded" in str(failed)
    assert changed and [s.kind for s in finished] == ["final"]
    task = store.get_task("t1")
    assert task is not None and (task.status, task.result) == (TaskStatus.COMPLETED, "ok")
    assert [s.kind for s in store.steps("t2")] == ["start"]  # the failed write left nothing
    assert [s.kind for s in store.steps("t1")] == ["start", "model", "final"]


def test_a_caller_that_stops_waiting_still_gets_its_write(store: RuntimeStore) -> None:
    store.create_task(id="t1", agent="a", input="x")

    async def main() -> None:
        waiting = asyncio.create_task(store.append_steps_batched("t1", [NewStep(0, "start", {})]))
        await asyncio.sleep(0)  # it has asked
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await asyncio.sleep(0.05)  # the flush runs anyway

    asyncio.run(main())
    assert [s.kind for s in store.steps("t1")] == ["start"]


def test_batches_are_bounded(store: RuntimeStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_batch, "MAX_BATCH", 4)

    async def main() -> list[Turn]:
        create = {"agent": "a", "input": "x"}
        return await asyncio.gather(
            *(
                store.start_turn_batched(f"t{i}", "w", create=create, recorded=False)
                for i in range(10)
            )
        )

    assert all(t.task is not None for t in asyncio.run(main()))
    assert store._batch.transactions == 3  # 4 + 4 + 2


def test_write_runs_any_operation(store: RuntimeStore) -> None:
    def op(conn: Connection) -> int:
        return int(conn.exec_driver_sql("SELECT 41 + 1").scalar_one())

    assert asyncio.run(store.write(op)) == 42


def test_writes_left_by_an_ended_event_loop_do_not_stall_the_next(store: RuntimeStore) -> None:
    store.create_task(id="t1", agent="a", input="x")

    started: list[asyncio.Task[Any]] = []

    async def leave_one() -> None:
        loop = asyncio.get_running_loop()
        # asked for, then the loop stops before its flush runs (an interpreter shutting down)
        started.append(loop.create_task(store.append_steps_batched("t1", [NewStep(0, "s", {})])))
        await asyncio.sleep(0)
        loop.stop()

    loop = asyncio.new_event_loop()
    try:
        started.append(loop.create_task(leave_one()))
        loop.run_forever()
    finally:
        loop.close()
    assert store._batch._pending  # left behind, never flushed

    async def next_run() -> list[Any]:
        return await asyncio.wait_for(
            store.append_steps_batched("t1", [NewStep(1, "model", {})]), timeout=5
        )

    assert [s.kind for s in asyncio.run(next_run())] == ["model"]


def test_a_batch_waits_for_a_locked_database_without_holding_the_loop(tmp_path: Path) -> None:
    """SQLite: another process holds the file's write lock; the batch does not sleep on the
    event loop (SQLite's busy handler would), it tries again, takes in the writes asked for
    meanwhile, and commits them together once the lock is free."""
    path = tmp_path / "rt.db"
    with RuntimeStore(f"sqlite:///{path}") as store:
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another writer, for 0.3 s
        release = threading.Timer(0.3, lambda: other.execute("COMMIT"))

        async def main() -> tuple[list[Turn], float]:
            create = {"agent": "a", "input": "x"}

            def start(i: int) -> Any:
                return store.start_turn_batched(f"t{i}", "w", create=create, recorded=False)

            async with loop_gaps(0.005) as gaps:
                release.start()
                first = [asyncio.ensure_future(start(i)) for i in range(5)]
                await asyncio.sleep(0.1)  # the database is still locked
                later = [asyncio.ensure_future(start(i)) for i in range(5, 10)]
                turns = await asyncio.gather(*first, *later)
            return turns, max(gaps)

        try:
            turns, stall = asyncio.run(main())
        finally:
            release.join()
            other.close()
        assert all(t.task is not None and t.task.status is TaskStatus.WORKING for t in turns)
        assert stall < 0.1  # the loop kept turning while the batch waited
        assert store._batch.busy > 0
        assert store._batch.transactions == 1  # the later writes joined the waiting batch


async def _siblings(store: RuntimeStore, n: int) -> None:
    """Tasks t0 .. t{n-1} started in one batch of ``n`` writes: the next batch lingers."""
    create = {"agent": "a", "input": "x"}
    await asyncio.gather(
        *(store.start_turn_batched(f"t{i}", "w", create=create, recorded=False) for i in range(n))
    )


def test_under_load_a_batch_lingers_while_writes_keep_joining(
    store: RuntimeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a batch of SIBLINGS writes (many tasks writing), the next waits while more writes
    join turn after turn of the event loop, as tool answers bring tasks back a few at a time:
    writes asked one turn apart share a transaction."""
    monkeypatch.setattr(store_batch, "SIBLINGS", 4)
    monkeypatch.setattr(store_batch, "LINGER_S", 5.0)

    async def main() -> tuple[int, int, float]:
        await _siblings(store, 6)
        before = store._batch.transactions
        started = asyncio.get_running_loop().time()
        writes = []
        for i in range(6):
            step = [NewStep(0, "start", {})]
            writes.append(asyncio.ensure_future(store.append_steps_batched(f"t{i}", step)))
            await asyncio.sleep(0)  # the next task comes back a turn later
        await asyncio.gather(*writes)
        return before, store._batch.transactions, asyncio.get_running_loop().time() - started

    before, after, took = asyncio.run(main())
    assert (before, after) == (1, 2)
    assert took < 2.0  # it began once no more came, not after LINGER_S


def test_a_lingering_batch_never_waits_idle(
    store: RuntimeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a round of the event loop brings no new write, the batch begins at once: a write
    asked 50 ms later goes in a transaction of its own, and the first did not wait LINGER_S.
    (Sleeping LINGER_S held every write of a worker whose tasks had nothing else to do.)"""
    monkeypatch.setattr(store_batch, "SIBLINGS", 4)
    monkeypatch.setattr(store_batch, "LINGER_S", 5.0)

    async def main() -> tuple[int, int, float]:
        await _siblings(store, 4)
        before = store._batch.transactions
        loop = asyncio.get_running_loop()
        started = loop.time()
        first = asyncio.ensure_future(store.append_steps_batched("t0", [NewStep(0, "start", {})]))
        await asyncio.sleep(0.05)
        second = store.append_steps_batched("t1", [NewStep(0, "start", {})])
        await first
        took = loop.time() - started
        await second
        return before, store._batch.transactions, took

    before, after, took = asyncio.run(main())
    assert (before, after) == (1, 3)
    assert took < 2.0


def test_a_lingering_batch_begins_after_linger_s_however_many_keep_coming(
    store: RuntimeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes joining on every turn do not hold a batch back for longer than LINGER_S."""
    monkeypatch.setattr(store_batch, "SIBLINGS", 4)
    monkeypatch.setattr(store_batch, "LINGER_S", 0.05)

    async def main() -> tuple[float, int]:
        await _siblings(store, 4)
        loop = asyncio.get_running_loop()
        stop = loop.time() + 1.5
        seqs = [0, 0, 0, 0]
        writes: list[asyncio.Future[Any]] = []
        done_at: list[float] = []

        def ask(i: int) -> None:
            seqs[i] += 1
            writes.append(
                asyncio.ensure_future(
                    store.append_steps_batched(f"t{i}", [NewStep(seqs[i], "model", {})])
                )
            )

        ask(0)
        writes[0].add_done_callback(lambda _: done_at.append(loop.time()))
        started = loop.time()
        n = 0
        while loop.time() < stop:
            n += 1
            ask(n % 4)
            await asyncio.sleep(0)
        await asyncio.gather(*writes)
        return done_at[0] - started, store._batch.transactions

    took, transactions = asyncio.run(main())
    assert took < 1.0  # committed while writes were still coming
    assert transactions > 2


def test_one_writer_alone_never_lingers(
    store: RuntimeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_batch, "LINGER_S", 5.0)
    store.create_task(id="t1", agent="a", input="x")

    async def main() -> float:
        started = asyncio.get_running_loop().time()
        for seq in range(5):  # a task's steps one after the other: batches of one
            await store.append_steps_batched("t1", [NewStep(seq, "model", {})])
        return asyncio.get_running_loop().time() - started

    assert asyncio.run(main()) < 5.0
    assert [s.seq for s in store.steps("t1")] == [0, 1, 2, 3, 4]
