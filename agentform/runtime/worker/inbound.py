"""Tasks a program publishes on the bus: who sent them, and whether they may.

A program (not the engine, not another agent) publishes a task on the agent's inbound subject
with a bearer token in it (``agentform tokens create SUBJECT``). :class:`Inbound` takes the
caller from the token, never from the message, checks that the subject may invoke the agent
(``invoke:``, resolved by planning into the agent's ``invokers``) and counts the task against
the agent's ``rate_limit`` with every engine and replica (the runtime store's counters). A task
that passes becomes a task of that subject; anything else is recorded ``rejected`` with the
reason, so the program can read why. Used by the worker (:mod:`.process`) for every message that
arrives on an inbound subject.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace

from agentform.runtime.bus import TaskMessage
from agentform.runtime.store import RuntimeStore, StoreError, TaskStatus
from agentform.runtime.store.ratelimits import Limiter, RateStoreDown
from agentform.runtime.store.tokens import TokenError, TokenStore
from agentform.runtime.worker.config import WorkerConfig

__all__ = ["Inbound"]

log = logging.getLogger("agentform.worker")


class Inbound:
    """The admission of one agent's inbound tasks (tables opened at the first one)."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.tokens: TokenStore | None = None
        self.limiter: Limiter | None = None

    async def admit(self, message: TaskMessage, store: RuntimeStore) -> TaskMessage | None:
        """An inbound task with a live token whose subject may invoke this agent, as a task
        of that subject; anything else is recorded ``rejected`` with the reason (None)."""
        subject = None
        if message.token:
            if self.tokens is None:
                self.tokens = await asyncio.to_thread(TokenStore, self.config.store_url)
            try:
                subject = await asyncio.to_thread(self.tokens.authenticate, message.token)
            except TokenError as exc:
                log.error("checking an inbound task's token failed: %s", exc)
        agent = self.config.agent
        if subject is not None and subject in self.config.values.invokers:
            why = await self._rate(subject)
            if why is None:
                return replace(message, caller=subject, recorded=False, token=None)
        elif subject is None:
            why = (
                "refused: a task published on the bus needs a live bearer token ('agentform"
                " tokens create SUBJECT') in its 'token' field"
            )
        else:
            why = (
                f"refused: {subject!r} may not send tasks to {agent!r}; give it a role with"
                f" invoke:{agent} in the spec's access"
            )
        log.warning("inbound task %s refused: %s", message.id, why)

        def reject() -> None:
            store.create_task(
                id=message.id,
                agent=agent,
                input=message.input,
                context_id=message.context_id,
                caller=subject,
                channel="bus",
            )
            store.finish_task(message.id, TaskStatus.REJECTED, error=why)

        with contextlib.suppress(StoreError):
            await store.run(reject)
        return None

    async def _rate(self, subject: str) -> str | None:
        """None when the agent's rate limit admits one more task of ``subject`` (counted in the
        runtime store with the engine's own counts), else why not."""
        rate = self.config.values.rate_limit
        if rate is None:
            return None
        if self.limiter is None:
            self.limiter = await asyncio.to_thread(Limiter, self.config.store_url)
        agent = self.config.agent
        for key, limit, what in (
            (f"agent:{agent}:caller:{subject}", rate.per_caller, "from one caller"),
            (f"agent:{agent}:total", rate.total, "in total"),
        ):
            if not limit:
                continue
            try:
                wait = await asyncio.to_thread(self.limiter.hit, key, limit)
            except RateStoreDown as exc:
                return f"refused: {exc}, so the rate limit cannot be checked"
            if wait is not None:
                return (
                    f"refused: agent {agent} takes at most {limit} {what}; try again in {wait:.0f}s"
                )
        return None

    def close(self) -> None:
        for part in (self.tokens, self.limiter):
            if part is not None:
                part.close()
        self.tokens, self.limiter = None, None
