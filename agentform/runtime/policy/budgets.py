"""Budgets across tasks: what the whole project, and each caller, may spend in a window.

The spec's top-level ``limits`` (:class:`~agentform.contract.values.ProjectLimits`, resolved onto
every agent by planning) says how many model steps, tool calls, tokens and dollars every task
together (``project``) and the tasks of one caller (``per_caller``) may spend in each
``window``. What was spent is counted in the runtime store with the rate-limit counters
(:mod:`agentform.runtime.store.ratelimits`: fixed windows, keys ``budget:...``), so every engine
and replica shares one count. Dollars are counted in millionths.

:class:`Budgets` is used by the agent loop (:mod:`agentform.runtime.worker.loop`): before each
model step and tool call it checks that no budget of the task's payer is spent (the task fails
with the reason when one is), and after each step it books what the step used; in a worker
both are writes shared with its other tasks' writes (``store``: the runtime store's group
commit), elsewhere transactions of their own on a thread (``limiter``). A delegated
task is paid for by the caller of the task that started its chain (:meth:`Budgets.payer`). The
engine checks the same budgets before it accepts a task (:mod:`agentform.runtime.host.admission`).
Counters that cannot be used refuse: a budget is never waved through because the store is down.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator
from dataclasses import dataclass

from agentform.contract.values import Budget, ProjectLimits
from agentform.durations import format_duration
from agentform.runtime.store import RuntimeStore, StoreError, TaskRecord
from agentform.runtime.store.ratelimits import Limiter, RateStoreDown, first_exhausted, hit_all

__all__ = ["BudgetSpent", "Budgets", "Usage"]

_MICRO = 1_000_000  # dollars are counted in millionths: the counters are integers
_PAYERS_KEPT = 4096  # root callers remembered per worker (delegated tasks ask once)


class BudgetSpent(Exception):
    """A budget the task's payer draws on is spent (or cannot be checked): a sentence naming
    which, and when it resets. ``retry_after`` is the seconds until it does."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Usage:
    """What one step spent."""

    steps: int = 0
    tool_calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0


_DIMENSIONS = (
    ("steps", "max_steps", "model steps"),
    ("tool_calls", "max_tool_calls", "tool calls"),
    ("tokens", "max_tokens", "tokens"),
    ("cost", "max_cost_usd", "dollars"),
)


@dataclass(frozen=True, slots=True)
class _Counter:
    key: str  # the rate-limit counter's key
    limit: str  # its limit, as the limits library reads it
    dimension: str  # steps | tool_calls | tokens | cost
    maximum: float  # as declared
    whose: str  # "the project's", "caller NAME's"
    field: str  # where it is declared: limits.per_caller.max_cost_usd

    def spent(self, window: str, wait: float) -> str:
        what = {d: w for d, _, w in _DIMENSIONS}[self.dimension]
        shown = f"${self.maximum:g}" if self.dimension == "cost" else f"{self.maximum:g} {what}"
        return (
            f"{self.whose} budget of {shown} per {window} is spent ({self.field});"
            f" it resets in {wait:.0f}s"
        )


class Budgets:
    """The project's and each caller's budgets (``limits`` None or without budgets: none)."""

    def __init__(
        self,
        limits: ProjectLimits | None,
        limiter: Limiter | None,
        *,
        store: RuntimeStore | None = None,
    ) -> None:
        self.limits = limits
        self.limiter = limiter
        # a worker's: checked and booked in writes shared with its other tasks' writes (group
        # commit), not in transactions of their own on threads (they cost more than the step)
        self.store = store
        self._payers: dict[str, str] = {}
        seconds = int(limits.window.total_seconds()) if limits is not None else 86400
        self._window = max(1, seconds)

    def __bool__(self) -> bool:
        return self.limits is not None and (
            self.limits.project is not None or self.limits.per_caller is not None
        )

    def _counters(self, payer: str) -> Iterator[_Counter]:
        """The counter of every budget ``payer`` draws on."""
        if self.limits is None:
            return
        scopes: list[tuple[str, Budget | None, str, str]] = [
            ("budget:project", self.limits.project, "the project's", "project"),
            (f"budget:caller:{payer}", self.limits.per_caller, f"caller {payer}'s", "per_caller"),
        ]
        for prefix, budget, whose, section in scopes:
            if budget is None:
                continue
            for dimension, field, _ in _DIMENSIONS:
                maximum = getattr(budget, field)
                if maximum is None:
                    continue
                amount = int(maximum * _MICRO) if dimension == "cost" else int(maximum)
                limit = f"{max(1, amount)}/{self._window} second"
                yield _Counter(f"{prefix}:{dimension}", limit, dimension, float(maximum), whose,
                               f"limits.{section}.{field}")  # fmt: skip

    def _window_text(self) -> str:
        assert self.limits is not None
        return format_duration(self.limits.window)

    async def payer(self, store: RuntimeStore, task: TaskRecord) -> str:
        """Who pays for ``task``: the caller of the task that started its delegation chain."""
        if task.parent_id is None:
            return task.caller or "operator"
        found = self._payers.get(task.id)
        if found is not None:
            return found
        current, seen = task, 0
        while current.parent_id is not None and seen < 64:
            known = self._payers.get(current.parent_id)
            if known is not None:
                found = known
                break
            parent = await store.run(store.get_task, current.parent_id)
            if parent is None:
                break
            current, seen = parent, seen + 1
        if found is None:
            found = current.caller or "operator"
        if len(self._payers) >= _PAYERS_KEPT:
            self._payers.clear()
        self._payers[task.id] = found
        return found

    async def check(self, payer: str) -> None:
        """Raise :class:`BudgetSpent` when a budget ``payer`` draws on is spent."""
        if not self:
            return
        counters = list(self._counters(payer))
        if self.store is not None:
            limits = [(counter.key, counter.limit) for counter in counters]
            try:
                first = await self.store.write(functools.partial(first_exhausted, limits=limits))
            except StoreError as exc:
                why = f"the rate-limit counters cannot be used: {exc}"
                raise BudgetSpent(f"{why}, so the budgets cannot be checked", 30.0) from None
            if first is not None:
                index, wait = first
                raise BudgetSpent(counters[index].spent(self._window_text(), wait), wait)
            return
        if self.limiter is None:
            return
        limiter = self.limiter

        def first_spent() -> tuple[_Counter, float] | None:
            for counter in counters:
                wait = limiter.exhausted(counter.key, counter.limit)
                if wait is not None:
                    return counter, wait
            return None

        try:
            found = await asyncio.to_thread(first_spent)
        except RateStoreDown as exc:
            raise BudgetSpent(f"{exc}, so the budgets cannot be checked", 30.0) from None
        if found is not None:
            counter, wait = found
            raise BudgetSpent(counter.spent(self._window_text(), wait), wait)

    async def book(self, payer: str, usage: Usage) -> None:
        """Count what a step spent against every budget ``payer`` draws on (past a budget too:
        the next check refuses)."""
        if not self or (self.limiter is None and self.store is None):
            return
        spent = {
            "steps": usage.steps,
            "tool_calls": usage.tool_calls,
            "tokens": usage.tokens,
            "cost": round(usage.cost_usd * _MICRO),
        }
        hits = [(c.key, c.limit, spent[c.dimension]) for c in self._counters(payer)]
        hits = [hit for hit in hits if hit[2]]
        if not hits:
            return
        if self.store is not None:
            try:
                await self.store.write(functools.partial(hit_all, hits=hits))
            except StoreError as exc:  # the next check refuses with the same reason
                why = f"the rate-limit counters cannot be used: {exc}"
                raise BudgetSpent(
                    f"{why}, so what the task spent cannot be counted", 30.0
                ) from None
            return
        limiter = self.limiter
        assert limiter is not None

        def book_all() -> None:
            for key, limit, amount in hits:
                limiter.hit(key, limit, cost=amount)

        try:
            await asyncio.to_thread(book_all)
        except RateStoreDown as exc:  # the next check refuses with the same reason
            raise BudgetSpent(f"{exc}, so what the task spent cannot be counted", 30.0) from None
