"""Apply: carry out a plan through a provider, recording state after every change.

This module owns :func:`apply_plan`, the errors that stop an apply before anything is touched
(:class:`StalePlan`, :class:`ProtectedResource`, both :class:`ApplyError`), and doing one change:
temporary provider errors are retried with backoff (:func:`exponential_backoff`), anything else
fails the resource, and every provider mutation is recorded in state before the change counts as
done (a replace records twice: after the delete and after the create). The order, parallelism
and skipping of the changes is :func:`agentform.walk.walk` (whose :class:`ApplyResult` and
:class:`ApplyEvent` are re-exported here); the state writes, one at a time with group commit,
are :class:`agentform.recorder.Recorder`.

Called by the CLI (``apply``, ``destroy``), :mod:`agentform.workflow` and by tests with the fake
provider.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import TypeVar

from agentform.addresses import Address
from agentform.diff import held_data
from agentform.plan import Action, Change, Plan
from agentform.provider import (
    ObservedResource,
    Provider,
    ResourceValue,
    TemporaryProviderError,
    bounded_call,
)
from agentform.recorder import Recorder
from agentform.state.snapshot import RecordedResource, StateSnapshot, empty
from agentform.state.store import StateStore
from agentform.walk import ApplyEvent, ApplyResult, walk

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


def exponential_backoff(attempt: int) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): 0.5, 1, 2, 4 ... at most 30."""
    return float(min(30.0, 0.5 * 2**attempt))


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
        recorder = Recorder(store, start, spec_revision(plan), git_commit)
        if plan.refresh_only:
            _refresh(plan, recorder)
            return ApplyResult(serial=recorder.snapshot.serial)

        def run(change: Change) -> None:
            _carry_out(change, provider, recorder, retries, backoff, sleep, emit, call_timeout)

        result = walk(plan, run, parallelism, emit)
        result.serial = recorder.snapshot.serial
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
        c
        for c in plan.changes
        if c.kind == "memory"
        and c.action in (Action.DELETE, Action.REPLACE)
        and any(r.level == "high" for r in c.risks)
    ]
    if doomed and not allow_data_loss:
        raise ProtectedResource(_data_loss_message(plan, doomed))


def _data_loss_message(plan: Plan, doomed: list[Change]) -> str:
    """What the refused plan would lose, and the ways on: keep it, export it first, or allow it."""
    # destroy plans only deletes, and its stores are still in the spec (as a replaced one is);
    # a store an apply deletes was removed from it: 'memory export' can no longer name it
    destroying = all(c.action is Action.DELETE for c in plan.changes)
    env = "" if plan.environment in ("", "default") else f" --env {plan.environment}"
    lost: list[str] = []
    keep: list[str] = []
    exports: list[str] = []
    for change in doomed:
        name = Address.parts(change.address)[1]
        values = change.before or {}
        what = str(values.get("kind") or "memory")
        if values.get("scope"):
            what += f", scope {values['scope']}"
        held = held_data(values.get("data"))
        holds = f"its data ({held or 'how much was not reported'})"
        if change.action is Action.REPLACE:
            fields = ", ".join(change.replace_fields)
            why = f"{fields} cannot change in place" if fields else "replace requested"
            lost.append(f"replace {change.address} ({what}; {why}), emptying it of {holds}")
            keep.append(f"keep {fields} of {change.address} unchanged" if fields else
                        f"do not pass --replace {change.address}")  # fmt: skip
        else:
            lost.append(f"delete {change.address} ({what}) and {holds}")
        if change.action is Action.REPLACE or destroying:
            exports.append(f"'agentform memory export {name}{env} --output {name}.jsonl'")
        else:
            keep.append(f"put {change.address} back in the spec")
    if len(exports) < len(doomed):  # every store's entries, those no longer in the spec too
        exports.append(f"'agentform memory export{env} --output memory.jsonl'")
    text = f"the plan would {', and '.join(lost)}; nothing was changed. "
    if keep:
        text += f"To keep the data, {' and '.join(keep)}. "
    it = "it" if len(doomed) == 1 else "them"
    return text + (
        f"To keep a copy, export {it} first with {' and '.join(exports)} ('agentform memory "
        f"import' reads {it} back), then run again with --allow-data-loss to go on and delete "
        f"{it}."
    )


def _refresh(plan: Plan, recorder: Recorder) -> None:
    """Record what was observed: drifted values replace recorded ones, vanished ones go."""
    for drift in plan.drift:
        current = recorder.snapshot.resources.get(drift.address)
        if current is None:
            continue
        if drift.observed is None:
            recorder.record(drift.address, None)
        else:
            values = {k: drift.observed.get(k) for k in current.values}
            recorder.record(drift.address, current.model_copy(update={"values": values}))


def _carry_out(
    change: Change,
    provider: Provider,
    recorder: Recorder,
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
        recorder.record(change.address, None)
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
    recorder.record(change.address, record)
