"""Admitting a task: an agent's ``rate_limit`` (per caller and in total), counted in the
runtime store so every engine and replica on one database shares the counts.

:func:`admit` is asked before a task is accepted through the control API or an agent's A2A
server (the worker asks the same of tasks published on the bus, :mod:`agentform.runtime.worker.
process`). A limit reached is :class:`~agentform.runtime.errors.RateLimited` (HTTP 429 with
``Retry-After``) and an audit record; counters that cannot be used refuse the task (503: fail
closed) rather than let it through unchecked. Functions of an :class:`~.view.EngineView`.
"""

from __future__ import annotations

import asyncio

from agentform.contract.values import ProjectLimits
from agentform.runtime.audit import AuditEvent
from agentform.runtime.errors import EngineError, RateLimited
from agentform.runtime.host.view import EngineView
from agentform.runtime.policy.budgets import Budgets, BudgetSpent
from agentform.runtime.store.ratelimits import RateStoreDown

__all__ = ["admit"]


async def _afford(engine: EngineView, agent: str, caller: str, limits: ProjectLimits) -> None:
    """Refuse a task (429 until the window resets, and an audit record) whose caller or project
    has spent a budget; the workers check again before every step."""
    budgets = Budgets(limits, engine.limiter)
    if not budgets:
        return
    if engine.limiter is None:
        raise EngineError("the runtime store is not set up; run 'agentform apply' first", 503)
    try:
        await budgets.check(caller)
    except BudgetSpent as exc:
        await engine.audit(
            AuditEvent("budget.spent", caller, agent, data={"reason": str(exc)[:500]})
        )
        raise RateLimited(f"task refused: {exc}", exc.retry_after) from None


async def admit(engine: EngineView, agent: str, caller: str, *, channel: str) -> None:
    """Count one task of ``caller`` for ``agent`` against its rate limit, or refuse it; refuse
    it too when a budget of the project's ``limits`` the caller draws on is spent."""
    values = engine.resources.get(f"agent.{agent}") or {}
    if values.get("budgets"):
        await _afford(engine, agent, caller, ProjectLimits.model_validate(values["budgets"]))
    rate = values.get("rate_limit") or {}
    checks = [
        (f"agent:{agent}:caller:{caller}", rate.get("per_caller"), "from one caller"),
        (f"agent:{agent}:total", rate.get("total"), "in total"),
    ]
    checks = [(key, limit, what) for key, limit, what in checks if limit]
    if not checks:
        return
    limiter = engine.limiter
    if limiter is None:
        raise EngineError("the runtime store is not set up; run 'agentform apply' first", 503)
    for key, limit, what in checks:
        try:
            wait = await asyncio.to_thread(limiter.hit, key, str(limit))
        except RateStoreDown as exc:
            raise EngineError(
                f"task refused: {exc}, so agent {agent}'s rate limit cannot be checked; try again"
                " once the runtime store is back",
                503,
            ) from None
        if wait is not None:
            await engine.audit(
                AuditEvent(
                    "rate.limited",
                    caller,
                    agent,
                    data={"limit": str(limit), "scope": what, "channel": channel,
                          "retry_after": round(wait, 1)},
                )
            )  # fmt: skip
            raise RateLimited(
                f"agent {agent} takes at most {limit} {what}; try again in {wait:.0f}s", wait
            )
