"""The walk over a plan's changes: which may start when, in parallel, and what became of each.

This module owns :func:`walk`, its outcome :class:`ApplyResult` and its progress reports
(:class:`ApplyEvent`). It runs the changes of a plan with bounded parallelism: a change starts
only when every change it waits for (``Change.waits_for``) has succeeded, in plan order among
those ready; a failed change skips its dependants (and theirs) while independent branches
finish; a change waiting for one that is not in the plan is skipped; Ctrl-C starts nothing new
and lets the changes in flight finish. Doing one change is the caller's ``run``: the walk knows
nothing of providers or state. Called by :func:`agentform.apply.apply_plan`, which re-exports
:class:`ApplyEvent` and :class:`ApplyResult`.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from agentform.plan import Action, Change, Plan

__all__ = ["ApplyEvent", "ApplyResult", "walk"]


@dataclass(frozen=True, slots=True)
class ApplyEvent:
    """Progress for ``on_event``: ``status`` is started, retrying, done, failed or skipped.

    ``started`` and ``retrying`` come from worker threads; the callback must be thread-safe.
    """

    address: str
    action: Action
    status: str
    message: str = ""


@dataclass
class ApplyResult:
    """What happened to each change; ``serial`` is the last state serial written."""

    serial: int
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False  # Ctrl-C: changes in flight finished, the rest never started

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped and not self.interrupted


def walk(
    plan: Plan,
    run: Callable[[Change], None],
    parallelism: int,
    emit: Callable[[ApplyEvent], None],
) -> ApplyResult:
    """Start each change once everything it waits for succeeded; skip it if any did not."""
    result = ApplyResult(serial=plan.serial)
    schedule = _Schedule([c for c in plan.changes if c.action is not Action.NOOP], result, emit)
    running: dict[Future[None], Change] = {}
    workers = max(1, parallelism)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while schedule.pending or running:
            try:
                # no more in flight than can run: each wait below looks at `workers` futures,
                # and a Ctrl-C leaves nothing queued in the pool to start afterwards
                for change in schedule.take_ready(workers - len(running)):
                    running[pool.submit(run, change)] = change
                if not running:
                    schedule.give_up("waits for a change not in the plan")
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    schedule.ended(running.pop(future), future.exception())
                schedule.skip_blocked()
            except KeyboardInterrupt:
                # Ctrl-C: start nothing new; let the changes in flight finish and be recorded,
                # so state says exactly what exists (a second Ctrl-C stops waiting)
                result.interrupted = True
                schedule.give_up("not started: apply was interrupted", reason="interrupted")
    return result


class _Schedule:
    """Which changes may start: each counts the waits it still has, each address knows who
    waits for it, so an apply of N changes costs O(N + waits), not a scan of every pending
    change after every completion. Ready changes start in plan order."""

    def __init__(
        self, changes: list[Change], result: ApplyResult, emit: Callable[[ApplyEvent], None]
    ) -> None:
        self.result = result
        self.emit = emit
        self.pending: dict[str, Change] = {c.address: c for c in changes}  # not started yet
        self.position = {c.address: i for i, c in enumerate(changes)}
        self.unmet: dict[str, int] = {}
        self.waiters: dict[str, list[str]] = {}
        self.ready: list[int] = []
        self.blocked: set[str] = set()  # waits for something that failed or was skipped
        for change in changes:
            self.unmet[change.address] = len(set(change.waits_for))
            for wait_for in set(change.waits_for):
                self.waiters.setdefault(wait_for, []).append(change.address)
            if not change.waits_for:
                heapq.heappush(self.ready, self.position[change.address])
        self.order = changes

    def take_ready(self, limit: int) -> list[Change]:
        """Up to ``limit`` changes that may start now, in plan order."""
        out: list[Change] = []
        while self.ready and len(out) < limit:
            change = self.order[heapq.heappop(self.ready)]
            if self.pending.pop(change.address, None) is not None:
                out.append(change)
        return out

    def ended(self, change: Change, error: BaseException | None) -> None:
        if error is None:
            _done_list(self.result, change.action).append(change.address)
            self.emit(ApplyEvent(change.address, change.action, "done"))
            for waiter in self.waiters.get(change.address, ()):
                self.unmet[waiter] -= 1
                if self.unmet[waiter] == 0 and waiter in self.pending:
                    heapq.heappush(self.ready, self.position[waiter])
        else:
            self.result.failed[change.address] = str(error) or type(error).__name__
            self.emit(ApplyEvent(change.address, change.action, "failed", str(error)))
            self._block(change.address)

    def skip_blocked(self) -> None:
        """Skip, in plan order, every pending change that waits for one that failed or was
        skipped (and then what waits for those)."""
        while self.blocked:
            for address in sorted(self.blocked, key=self.position.__getitem__):
                self.blocked.discard(address)
                change = self.pending.pop(address, None)
                if change is None:
                    continue
                result = self.result
                culprit = next(
                    w for w in change.waits_for if w in result.failed or w in result.skipped
                )
                why = "failed" if culprit in result.failed else "was skipped"
                reason = f"depends on {culprit}, which {why}"
                result.skipped[address] = reason
                self.emit(ApplyEvent(address, change.action, "skipped", reason))
                self._block(address)

    def give_up(self, why: str, *, reason: str | None = None) -> None:
        """Skip everything not started yet, in plan order."""
        self.ready.clear()
        for address, change in list(self.pending.items()):
            self.result.skipped[address] = why
            if reason is not None:
                self.emit(ApplyEvent(address, change.action, "skipped", reason))
        self.pending.clear()

    def _block(self, address: str) -> None:
        self.blocked.update(w for w in self.waiters.get(address, ()) if w in self.pending)


def _done_list(result: ApplyResult, action: Action) -> list[str]:
    return {
        Action.CREATE: result.created,
        Action.UPDATE: result.updated,
        Action.REPLACE: result.replaced,
        Action.DELETE: result.deleted,
    }[action]
