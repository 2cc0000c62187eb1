"""A model's per-minute budget: ``limits.requests_per_minute`` and ``limits.tokens_per_minute``.

:class:`RateLimit` keeps a sliding one-minute window of the calls this process made and the
tokens they used; :meth:`RateLimit.acquire` waits until one more call fits, :meth:`record`
books the tokens an answer reported. Tokens are known only after an answer, so the token budget
is checked before a call against what earlier calls used (a call may overshoot by its own size).
:class:`SharedRateLimit` is the same budget counted in the runtime store
(:class:`~agentform.runtime.store.ratelimits.Limiter`, one-minute windows), so every replica
and every agent on one model share it: the worker uses it whenever it has the store. Used by
:class:`~agentform.runtime.models.retry.RetryingModel`, which acquires before every attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from agentform.runtime.store.ratelimits import Limiter, RateStoreDown

__all__ = ["WINDOW", "RateLimit", "SharedRateLimit"]

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


class SharedRateLimit:
    """``requests`` calls and ``tokens`` tokens per minute for model ``model``, counted in the
    runtime store across processes; counters that cannot be used make it wait and try again
    (a model call is never made unchecked)."""

    def __init__(
        self,
        limiter: Limiter,
        model: str,
        requests: int | None,
        tokens: int | None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limiter = limiter
        self.requests = f"{requests}/minute" if requests else None
        self.tokens = f"{tokens}/minute" if tokens else None
        self._keys = (f"model:{model}:requests", f"model:{model}:tokens")
        self._sleep = sleep
        self._pending: set[asyncio.Future[Any]] = set()

    async def acquire(self) -> None:
        requests_key, tokens_key = self._keys
        while True:
            try:
                wait = None
                if self.tokens is not None:
                    wait = await self.limiter.exhausted_soon(tokens_key, self.tokens)
                if wait is None and self.requests is not None:
                    wait = await self.limiter.hit_soon(requests_key, self.requests)
            except RateStoreDown:
                wait = 1.0
            if wait is None:
                return
            await self._sleep(wait)

    def record(self, tokens: int) -> None:
        """Book ``tokens`` used by an answer (the caller does not wait)."""
        if self.tokens is None or tokens <= 0:
            return
        limit = self.tokens

        async def book() -> None:
            with contextlib.suppress(RateStoreDown):
                await self.limiter.hit_soon(self._keys[1], limit, cost=tokens)

        future = asyncio.ensure_future(book())
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
