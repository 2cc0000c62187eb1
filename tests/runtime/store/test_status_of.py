"""``RuntimeStore.status_of``: a task's status alone, what a worker asks before every step.

On SQLite, from the event loop after a write it reads on the driver of the loop's write
connection (``StoreBase._peek``); otherwise (no such connection yet, on a thread, inside a
transaction) in a read transaction. Both must say the same, and see a cancel made elsewhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from agentform.runtime.store import NewStep, RuntimeStore, TaskStatus


def test_status_of_from_the_loop_and_from_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'runtime.db'}"
    with RuntimeStore(url) as store, RuntimeStore(url) as other:
        store.create_task(id="t1", agent="a", input="go")
        assert store.status_of("t1") is TaskStatus.SUBMITTED  # no loop: a read transaction
        assert store.status_of("nope") is None

        async def steps() -> list[TaskStatus | None]:
            assert store.start_attempt("t1", "w") is not None
            # a write from the loop opens the connection the peek reads on
            await store.append_steps_batched("t1", [NewStep(0, "start", {"instructions": "x"})])
            real = store._begin
            transactions: list[bool] = []

            @contextmanager
            def begin(*, read: bool = False) -> Iterator[Any]:
                transactions.append(read)
                with real(read=read) as conn:
                    yield conn

            monkeypatch.setattr(store, "_begin", begin)
            seen = [await store.run(store.status_of, "t1")]
            assert transactions == []  # read on the driver: no transaction
            other.finish_task("t1", TaskStatus.CANCELED, error="canceled on request")
            seen.append(await store.run(store.status_of, "t1"))
            seen.append(await asyncio.to_thread(store.status_of, "t1"))
            assert transactions == [True]  # on a thread: a read transaction
            seen.append(await store.run(store.status_of, "nope"))
            return seen

        assert asyncio.run(steps()) == [
            TaskStatus.WORKING,
            TaskStatus.CANCELED,  # another process's write is seen at once
            TaskStatus.CANCELED,
            None,
        ]
