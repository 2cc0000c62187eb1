"""Following a task as it runs: the control API's ``GET /v1/tasks/{id}/events`` stream.

Owns :func:`follow`, an async iterator of NDJSON lines: the task's recorded steps, then new ones
as workers announce them on the bus, its delegated children as they appear, and finally its
status. Used by :mod:`.control`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import AsyncIterator
from typing import Any

from agentform.runtime.host.engine import Engine
from agentform.runtime.host.records import step_json, task_json
from agentform.runtime.store import TERMINAL, StepRecord

__all__ = ["follow"]


async def follow(engine: Engine, task_id: str) -> AsyncIterator[bytes]:
    """Recorded steps first, then live ones as workers announce them, until the task ends.

    Delegated tasks are followed too: each child appears (``{"kind": "child"}``) when it is
    created, and its steps carry ``task`` and ``depth``, so a client can draw the tree as it
    unfolds.
    """
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    async def on_event() -> None:
        await queue.put(b"")

    # any task's announcement wakes the stream: children announce on their own subjects
    unwatch = await engine.watch("*", on_event)
    store = engine.store
    assert store is not None
    seen: dict[str, int] = {task_id: -1}
    depth: dict[str, int] = {task_id: 0}

    def line(event: dict[str, Any]) -> bytes:
        return (json.dumps(event) + "\n").encode()

    try:
        while True:
            # the task's status first: a task seen ended has every step written (its last
            # steps are written with its end), so the steps read next are all of them; read
            # after the steps, an end in between would lose the last ones
            task = await store.run(store.get_task, task_id)
            # one round: new children first, then every new step of the tree in time order
            for tid in list(seen):
                for child in await asyncio.to_thread(
                    functools.partial(store.list_tasks, parent_id=tid, limit=1000)
                ):
                    if child.id not in seen:
                        seen[child.id], depth[child.id] = -1, depth[tid] + 1
                        yield line(
                            {"kind": "child", "task": task_json(child), "depth": depth[child.id]}
                        )
            fresh: list[tuple[str, StepRecord]] = []
            for tid in list(seen):
                for step in await store.run(store.steps, tid, after=seen[tid]):
                    seen[tid] = step.seq
                    fresh.append((tid, step))
            for tid, step in sorted(fresh, key=lambda item: item[1].created_at):
                event: dict[str, Any] = {"kind": "step", "step": step_json(step)}
                if tid != task_id:
                    event |= {"task": tid, "depth": depth[tid]}
                yield line(event)
            if task is not None and task.status in TERMINAL:
                yield line({"kind": "status", "task": task_json(task)})
                return
            # wake on any announcement; poll anyway in case one was missed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(queue.get(), 0.5)
            while not queue.empty():
                queue.get_nowait()
    finally:
        if unwatch is not None:
            await unwatch()
