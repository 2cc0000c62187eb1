"""A model's per-minute budget: ``limits.requests_per_minute`` and ``limits.tokens_per_minute``.

:class:`RateLimit` keeps a sliding one-minute window of the calls this process made and the
tokens they used; :meth:`RateLimit.acquire` waits until one more call fits, :meth:`record`
books the tokens an answer reported. Tokens are known only after an answer, so the token budget
is checked before a call against what earlier calls used (a call may overshoot by its own size).
The budget is per process: several workers on one model each get the full budget. Used by
:class:`~agentform.runtime.models.retry.RetryingModel`, which acquires before every attempt.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

__all__ = ["WINDOW", "RateLimit"]

WINDOW = 60.0


class RateLimit:
    """At most ``requests`` calls and ``tokens`` tokens per minute; None means no limit."""

    def __init__(
        self,
        requests: int | None,
        tokens: int | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.requests = requests
        self.tokens = tokens
        self._clock = clock
        self._sleep = sleep
        self._calls: deque[float] = deque()
        self._used: deque[tuple[float, int]] = deque()

    async def acquire(self) -> None:
        """Wait until the window has room for one more call, then count it."""
        while True:
            wait = self._wait(self._clock())
            if wait <= 0:
                self._calls.append(self._clock())
                return
            await self._sleep(wait)

    def record(self, tokens: int) -> None:
        """Book ``tokens`` used by an answer that just arrived."""
        if self.tokens is not None and tokens > 0:
            self._used.append((self._clock(), tokens))

    def _wait(self, now: float) -> float:
        while self._calls and self._calls[0] <= now - WINDOW:
            self._calls.popleft()
        while self._used and self._used[0][0] <= now - WINDOW:
            self._used.popleft()
        wait = 0.0
        if self.requests is not None and len(self._calls) >= self.requests:
            wait = self._calls[len(self._calls) - self.requests] + WINDOW - now
        if self.tokens is not None:
            total = sum(n for _, n in self._used)
            for at, n in self._used:  # the oldest entries leave the window first
                if total < self.tokens:
                    break
                wait = max(wait, at + WINDOW - now)
                total -= n
        return wait
