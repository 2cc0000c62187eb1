"""One model made patient: per-call timeout, retries with backoff, concurrency and rate caps.

:class:`RetryingModel` wraps an adapter. Each attempt runs under ``asyncio.timeout`` (the
model's ``timeout``, default 60s; running out is a :class:`TemporaryModelError`) while holding
a slot of the ``max_concurrency`` semaphore and after the per-minute
:class:`~agentform.runtime.models.rate.RateLimit` let it through (waiting for either does not
count against the timeout). A :class:`TemporaryModelError` is retried up to ``max_retries``
times: after ``retry_after`` seconds when the endpoint said so (capped at
:data:`~agentform.runtime.models.http.MAX_RETRY_AFTER`), otherwise after an exponential backoff
with jitter. Permanent errors are never retried. Built by
:func:`agentform.runtime.models.build_model`, one per model in a fallback chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable, Sequence

from agentform.runtime.conversation import Message, ModelResponse, ToolSpec
from agentform.runtime.models.chat import ChatModel
from agentform.runtime.models.config import Pricing
from agentform.runtime.models.errors import TemporaryModelError
from agentform.runtime.models.http import MAX_RETRY_AFTER
from agentform.runtime.models.rate import RateLimit, SharedRateLimit

__all__ = ["RetryingModel"]

log = logging.getLogger(__name__)


class RetryingModel:
    """``inner`` with a deadline per attempt, retries of temporary errors, and a slot limit."""

    def __init__(
        self,
        inner: ChatModel,
        *,
        timeout: float,
        max_retries: int,
        max_concurrency: int | None = None,
        rate: RateLimit | SharedRateLimit | None = None,
        pricing: Pricing | None = None,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.name = inner.name
        self.inner = inner
        self.timeout = timeout
        self.max_retries = max_retries
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._sleep = sleep
        self._slots = asyncio.Semaphore(max_concurrency) if max_concurrency else None
        self._rate = rate
        self._pricing = pricing

    async def complete(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec]
    ) -> ModelResponse:
        attempt = 0
        while True:
            try:
                return await self._attempt(messages, tools)
            except TemporaryModelError as error:
                if attempt >= self.max_retries:
                    if attempt == 0:
                        raise
                    raise TemporaryModelError(
                        f"{error} (gave up after {attempt + 1} attempts)",
                        retry_after=error.retry_after,
                    ) from None
                wait = self.delay(attempt, error.retry_after)
                log.info("model %s: %s; retry %d in %.2fs", self.name, error, attempt + 1, wait)
                await self._sleep(wait)
                attempt += 1

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry ``attempt + 1``: what the endpoint asked, or backoff."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), MAX_RETRY_AFTER)
        backoff: float = min(self.max_delay, self.base_delay * 2.0**attempt)
        return backoff * random.uniform(0.5, 1.0)  # jitter: retries of many workers spread out

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def _attempt(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec]
    ) -> ModelResponse:
        slot = self._slots if self._slots is not None else contextlib.nullcontext()
        async with slot:
            if self._rate is not None:
                await self._rate.acquire()
            try:
                async with asyncio.timeout(self.timeout):
                    response = await self.inner.complete(messages, tools)
            except TimeoutError:
                raise TemporaryModelError(
                    f"model {self.name!r} did not answer within {self.timeout:g}s; "
                    "retrying later may help, or raise the model's timeout"
                ) from None
        if self._rate is not None:
            self._rate.record(response.input_tokens + response.output_tokens)
        if self._pricing is not None:
            response = dataclasses.replace(response, cost_usd=self._pricing.cost_usd(response))
        return response
