"""Measure how long the event loop stalls while a test's code runs on it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator


@contextlib.asynccontextmanager
async def loop_gaps(period: float) -> AsyncIterator[list[float]]:
    """A ticker that wakes every ``period`` seconds while the block runs; yields the gaps it
    saw between wake-ups (a gap much longer than ``period`` is the loop stalling)."""
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(period)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    try:
        yield gaps
    finally:
        stop.set()
        await ticking
