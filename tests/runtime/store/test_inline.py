"""Store calls run inline on the event loop (SQLite), with bounded waits and a thread fallback."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

from agentform.runtime.store import RuntimeStore, TaskStatus
from agentform.runtime.store import inline as store_inline
from agentform.runtime.store.transactions import sqlite_writer
from tests.runtime.stalls import loop_gaps


def _loop_stalls(store: RuntimeStore, call: object) -> tuple[object, float]:
    """Run ``call`` through ``store.run`` while a ticker measures the loop's longest stall."""

    async def main() -> tuple[object, float]:
        async with loop_gaps(0.01) as gaps:
            await asyncio.sleep(0.05)
            result = await store.run(call)  # type: ignore[arg-type]
            await asyncio.sleep(0.05)
        return result, max(gaps)

    return asyncio.run(main())


def test_a_free_sqlite_store_runs_calls_on_the_loop_thread(tmp_path: Path) -> None:
    with RuntimeStore(f"sqlite:///{tmp_path / 'rt.db'}") as store:
        seen: list[str] = []

        def call() -> object:
            seen.append(threading.current_thread().name)
            assert store_inline.inline_active()
            return store.create_task(id="t1", agent="a", input="x")

        (task, created), _ = _loop_stalls(store, call)  # type: ignore[misc]
        assert created and task.id == "t1"
        assert seen == [threading.main_thread().name]
        assert not store_inline.inline_active()


def test_a_locked_database_does_not_hold_the_loop_and_the_write_still_lands(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rt.db"
    with RuntimeStore(f"sqlite:///{path}") as store:
        store.create_task(id="t1", agent="a", input="x")
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another process's writer holds the lock for 0.8 s
        release = threading.Timer(0.8, lambda: other.execute("COMMIT"))
        release.start()
        threads: list[str] = []

        def call() -> object:
            threads.append(threading.current_thread().name)
            return store.start_attempt("t1", "w1")

        try:
            started, stall = _loop_stalls(store, call)
        finally:
            release.join()
            other.close()
        assert started is not None and started.status is TaskStatus.WORKING  # type: ignore[attr-defined]
        # tried inline, gave up after INLINE_WAIT_S, then waited on a thread
        assert threads[0] == threading.main_thread().name and len(threads) == 2
        assert threads[1] != threading.main_thread().name
        assert stall < store_inline.INLINE_WAIT_S + 0.15
        task = store.get_task("t1")
        assert task is not None and task.attempts == 1  # the inline try left nothing behind


def test_a_busy_writer_lock_in_this_process_moves_the_call_to_a_thread(tmp_path: Path) -> None:
    with RuntimeStore(f"sqlite:///{tmp_path / 'rt.db'}") as store:
        store.create_task(id="t1", agent="a", input="x")
        assert store._engine is not None
        lock = sqlite_writer(store._engine)
        holder_has_it = threading.Event()

        def hold() -> None:
            with lock:
                holder_has_it.set()
                time.sleep(0.6)

        holder = threading.Thread(target=hold)
        holder.start()
        holder_has_it.wait()
        try:
            started, stall = _loop_stalls(store, lambda: store.start_attempt("t1", "w1"))
        finally:
            holder.join()
        assert started is not None
        assert stall < store_inline.INLINE_WAIT_S + 0.15


def test_an_inline_call_leaves_the_shared_connections_with_the_full_busy_timeout(
    tmp_path: Path,
) -> None:
    """Memory stores share the engine: a connection an inline call used must not keep the
    inline call's short wait (their writes would fail with "database is locked")."""
    from agentform.runtime.store.tables import BUSY_TIMEOUT_S, acquire, release

    url = f"sqlite:///{tmp_path / 'rt.db'}"
    with RuntimeStore(url) as store:
        _loop_stalls(store, lambda: store.create_task(id="t1", agent="a", input="x"))
        _loop_stalls(store, lambda: store.get_task("t1"))
        engine = acquire(url)
        try:
            with engine.connect() as conn:  # the pooled connection the inline calls used
                driver = conn.connection.driver_connection
                assert driver is not None
                (waits_ms,) = driver.execute("PRAGMA busy_timeout").fetchone()
        finally:
            release(engine)
        assert waits_ms == int(BUSY_TIMEOUT_S * 1000)
