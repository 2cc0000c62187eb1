"""Apply: carry out a plan through a provider, recording state after every change.

This module owns :func:`apply_plan`, its outcome :class:`ApplyResult`, and the errors that stop
an apply before anything is touched (:class:`StalePlan`, :class:`ProtectedResource`, both
:class:`ApplyError`). It walks ``Plan.changes`` with bounded parallelism: a change starts only
when every change it waits for has succeeded; a failed change skips its dependants while
independent branches finish. Temporary provider errors are retried with backoff; anything else
fails the resource. Every provider mutation is recorded by a compare-and-set state write before
the change counts as done; writes are made one at a time so serials stay consecutive, and
changes that finish while a write is in flight share the next one (group commit). A replace
records twice: after the delete and after the create.

Called by the CLI (``apply``, ``destroy``) and by tests with the fake provider.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TypeVar

from agentform.plan import Action, Change, Plan
from agentform.provider import (
    ObservedResource,
    Provider,
    ResourceValue,
    TemporaryProviderError,
    bounded_call,
)
from agentform.state.snapshot import RecordedResource, StateSnapshot, empty
from agentform.state.store import StateStore

__all__ = [
    "ApplyError",
    "ApplyEvent",
    "ApplyResult",
    "ProtectedResource",
    "StalePlan",
    "apply_plan",
    "exponential_backoff",
    "spec_revision",
]

_T = TypeVar("_T")


class ApplyError(Exception):
    """Apply refused to start; nothing was changed. The message says what to do."""


class StalePlan(ApplyError):
    """State moved on since the plan was made."""


class ProtectedResource(ApplyError):
    """The plan would destroy data (a memory store) and ``allow_data_loss`` was not given."""


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


def exponential_backoff(attempt: int) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): 0.5, 1, 2, 4 ... at most 30."""
    return float(min(30.0, 0.5 * 2**attempt))


class _StateWriter:
    """The single writer, with group commit: serials stay consecutive, and a change is durable
    before :meth:`record` returns (so before anything that depends on it starts).

    Changes that finish while a write is in flight are written together by the next write:
    with ten workers, one compare-and-set carries several changes instead of ten queueing for
    ten writes of the whole snapshot. A worker whose change was in a failed write gets that
    error.
    """

    def __init__(
        self,
        store: StateStore,
        snapshot: StateSnapshot,
        spec_revision: str | None = None,
        git_commit: str | None = None,
    ) -> None:
        self._store = store
        self._revision = (spec_revision, git_commit)
        self._cond = threading.Condition()
        self._pending: list[tuple[str, RecordedResource | None]] = []
        self._queued = 0  # tickets handed out
        self._durable = 0  # tickets whose change is written
        self._writing = False
        self._error: BaseException | None = None
        self.snapshot = snapshot

    def record(self, address: str, resource: RecordedResource | None) -> None:
        with self._cond:
            self._queued += 1
            ticket = self._queued
            self._pending.append((address, resource))
            while self._durable < ticket:
                if self._error is not None:
                    raise self._error
                if self._writing:
                    self._cond.wait()
                    continue
                self._write_pending()

    def _write_pending(self) -> None:
        """Write everything queued; called with the condition held, releases it meanwhile."""
        self._writing = True
        batch, self._pending = self._pending, []
        upto, before = self._queued, self.snapshot
        resources = dict(before.resources)
        for address, resource in batch:
            if resource is None:
                resources.pop(address, None)
            else:
                resources[address] = resource
        new = before.next(resources, spec_revision=self._revision[0], git_commit=self._revision[1])
        self._cond.release()
        try:
            self._store.write(new, expected_serial=before.serial, changed=[a for a, _ in batch])
        except BaseException as exc:
            self._cond.acquire()
            self._error = exc
            self._writing = False
            self._cond.notify_all()
            raise
        self._cond.acquire()
        self.snapshot = new
        self._durable = upto
        self._writing = False
        self._cond.notify_all()


def spec_revision(plan: Plan) -> str:
    """A fingerprint of what the plan makes desired: equal specs give equal revisions."""
    desired = {c.address: c.after for c in plan.changes if c.action is not Action.DELETE}
    text = json.dumps(desired, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def apply_plan(
    plan: Plan,
    provider: Provider,
    store: StateStore,
    *,
    parallelism: int = 10,
    retries: int = 3,
    backoff: Callable[[int], float] = exponential_backoff,
    on_event: Callable[[ApplyEvent], None] | None = None,
    allow_data_loss: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    git_commit: str | None = None,
    call_timeout: float | None = 600.0,
) -> ApplyResult:
    """Carry out ``plan`` under the state lock; return what was done, failed and skipped.

    Every snapshot written records :func:`spec_revision` of the plan and ``git_commit`` (the
    commit the spec was checked out at, if the caller knows it).

    Raises :class:`StalePlan` when the store's latest serial or lineage is not the plan's,
    :class:`ProtectedResource` when the plan deletes or replaces a memory store and
    ``allow_data_loss`` is false, and :class:`~agentform.state.StateLocked` when another run
    holds the lock. After those checks it raises nothing for a failed resource: see the result.
    """
    emit = on_event or (lambda event: None)
    with store.lock("apply"):
        start = _check_fresh(plan, store)
        _check_protected(plan, allow_data_loss)
        writer = _StateWriter(store, start, spec_revision(plan), git_commit)
        if plan.refresh_only:
            _refresh(plan, writer)
            return ApplyResult(serial=writer.snapshot.serial)

        def run(change: Change) -> None:
            _carry_out(change, provider, writer, retries, backoff, sleep, emit, call_timeout)

        result = _walk(plan, run, parallelism, emit)
        result.serial = writer.snapshot.serial
        return result


def _check_fresh(plan: Plan, store: StateStore) -> StateSnapshot:
    latest = store.read()
    serial = latest.serial if latest else 0
    if plan.serial != serial:
        raise StalePlan(
            f"plan was made against state serial {plan.serial}, state is now {serial}; "
            'run "agentform plan" again.'
        )
    if latest is not None and plan.lineage != latest.lineage:
        raise StalePlan(
            f"plan was made against state lineage {plan.lineage}, but the state has lineage "
            f'{latest.lineage}; run "agentform plan" again.'
        )
    if latest is not None:
        return latest
    start = empty(store.project, store.environment)
    return start.model_copy(update={"lineage": plan.lineage}) if plan.lineage else start


def _check_protected(plan: Plan, allow_data_loss: bool) -> None:
    # a store the provider reports empty carries a low risk only: nothing to lose
    doomed = [
        c.address
        for c in plan.changes
        if c.kind == "memory"
        and c.action in (Action.DELETE, Action.REPLACE)
        and any(r.level == "high" for r in c.risks)
    ]
    if doomed and not allow_data_loss:
        raise ProtectedResource(
            f"the plan would destroy {', '.join(doomed)} and the data it holds; nothing was "
            "changed. Keep it in the spec, or pass --allow-data-loss to delete it."
        )


def _refresh(plan: Plan, writer: _StateWriter) -> None:
    """Record what was observed: drifted values replace recorded ones, vanished ones go."""
    for drift in plan.drift:
        current = writer.snapshot.resources.get(drift.address)
        if current is None:
            continue
        if drift.observed is None:
            writer.record(drift.address, None)
        else:
            values = {k: drift.observed.get(k) for k in current.values}
            writer.record(drift.address, current.model_copy(update={"values": values}))


def _walk(
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


def _carry_out(
    change: Change,
    provider: Provider,
    writer: _StateWriter,
    retries: int,
    backoff: Callable[[int], float],
    sleep: Callable[[float], None],
    emit: Callable[[ApplyEvent], None],
    timeout: float | None = None,
) -> None:
    """Do one change through the provider, recording state after each mutation."""
    emit(ApplyEvent(change.address, change.action, "started"))

    def attempt(operation: Callable[[], _T]) -> _T:
        for n in range(retries + 1):
            try:
                return bounded_call(operation, timeout, change.address)
            except TemporaryProviderError as exc:
                if n == retries:
                    raise TemporaryProviderError(
                        f"{exc} (still failing after {retries} retries; try again later)",
                        exc.delay,
                    ) from exc
                delay = max(exc.delay, backoff(n))
                emit(ApplyEvent(change.address, change.action, "retrying", f"{exc}; in {delay}s"))
                sleep(delay)
        raise AssertionError("unreachable")

    old = ObservedResource(change.address, change.id or "", dict(change.before or {}))
    if change.action in (Action.DELETE, Action.REPLACE):
        attempt(lambda: provider.delete(old))
        # persist after every change: a crash mid-apply must not forget what is gone
        writer.record(change.address, None)
    if change.after is None:
        return
    desired = ResourceValue.of(change.address, change.after)
    if change.action is Action.UPDATE:
        made = attempt(lambda: provider.update(desired, old))
    else:
        made = attempt(lambda: provider.create(desired))
    record = RecordedResource(
        kind=desired.kind,
        name=desired.name,
        provider=provider.name,
        id=made.id,
        values=dict(desired.values),
    )
    writer.record(change.address, record)
