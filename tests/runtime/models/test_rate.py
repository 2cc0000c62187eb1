"""The per-minute budget: a fake clock shows how long each call waits."""

from __future__ import annotations

import asyncio

import pytest

from agentform.runtime.models.rate import RateLimit


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


# Each call: (seconds since the start when it asks, tokens its answer uses).
@pytest.mark.parametrize(
    ("requests", "tokens", "calls", "started"),
    [
        (None, None, [(0, 10)] * 5, [0, 0, 0, 0, 0]),
        (2, None, [(0, 1)] * 5, [0, 0, 60, 60, 120]),
        (2, None, [(0, 1), (30, 1), (31, 1), (95, 1)], [0, 30, 60, 95]),
        (None, 100, [(0, 60), (1, 60), (2, 40), (3, 1)], [0, 1, 60, 61]),
        (None, 100, [(0, 500), (0, 1)], [0, 60]),
        (3, 100, [(0, 50), (0, 50), (0, 1)], [0, 0, 60]),
    ],
    ids=["unlimited", "requests", "sliding-window", "tokens", "one-big-answer", "both"],
)
def test_rate_limit(
    requests: int | None, tokens: int | None, calls: list[tuple[int, int]], started: list[int]
) -> None:
    clock = FakeClock()
    limit = RateLimit(requests, tokens, clock=clock, sleep=clock.sleep)

    async def run() -> list[float]:
        times = []
        for asks_at, used in calls:
            clock.now = max(clock.now, asks_at)
            await limit.acquire()
            times.append(clock.now)
            limit.record(used)
        return times

    assert asyncio.run(run()) == pytest.approx(started)
