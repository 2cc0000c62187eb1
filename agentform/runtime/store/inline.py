"""Store calls on the event loop's own thread, when a SQLite call is cheaper there than a hand-off.

A worker or the engine runs the runtime store (synchronous SQLAlchemy) from asyncio. Handing
every call to a thread (``asyncio.to_thread``) costs more than the call itself on a local SQLite
file: measured on the task path, the worker spent 5.0 ms of CPU per task with threads and 2.2 ms
running the same calls inline, because the loop thread and the store thread fight over the GIL on
every hand-off (``benchmarks/README.md``). So :func:`run_store` runs a SQLite call inline, with
its waits bounded: the process's writer lock and SQLite's busy handler give up after
:data:`INLINE_WAIT_S`, and then the call runs again on a thread with the full busy timeout. A
call is one transaction, so a call given up on left nothing behind. PostgreSQL calls always go
to a thread (they wait on the network). Used by :class:`~agentform.runtime.store.RuntimeStore`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = [
    "INLINE_WAIT_S",
    "StoreBusy",
    "inline_active",
    "run_store",
    "try_inline",
    "writer_turn",
]

T = TypeVar("T")

# how long an inline call may hold the event loop waiting for a lock before it moves to a thread
INLINE_WAIT_S = 0.01

_state = threading.local()


class StoreBusy(Exception):
    """An inline call found the database (or this process's writer lock) busy: run it on a
    thread instead (:func:`run_store`), or try again later (:func:`try_inline`'s caller)."""


def inline_active() -> bool:
    """True while this thread runs a store call inline (its waits must stay short)."""
    return bool(getattr(_state, "inline", False))


async def run_store(inline: bool, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` inline when ``inline`` (and the database is free), else on a
    thread."""
    if inline and not inline_active():
        _state.inline = True
        try:
            return fn(*args, **kwargs)
        except StoreBusy:
            pass  # nothing was written: the transaction rolled back
        finally:
            _state.inline = False
    return await asyncio.to_thread(fn, *args, **kwargs)


def try_inline(fn: Callable[[], T]) -> T:
    """``fn()`` inline now; raises :class:`StoreBusy` (having written nothing) when the
    database or this process's writer lock is taken."""
    if inline_active():
        raise RuntimeError("try_inline called from inside an inline store call")
    _state.inline = True
    try:
        return fn()
    finally:
        _state.inline = False


@contextlib.contextmanager
def writer_turn(lock: contextlib.AbstractContextManager[Any]) -> Iterator[None]:
    """Hold the process's writer ``lock``; an inline call waits at most :data:`INLINE_WAIT_S`."""
    if not inline_active() or not isinstance(lock, type(threading.Lock())):
        with lock:
            yield
        return
    if not lock.acquire(timeout=INLINE_WAIT_S):
        raise StoreBusy("the writer lock is held")
    try:
        yield
    finally:
        lock.release()
