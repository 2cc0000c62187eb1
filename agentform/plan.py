"""Plans: what apply would change, why, and how risky it is, computed before anything is touched.

This module owns :class:`Plan` (the changes in apply order, the drift found, and the project,
environment, lineage and serial of the state they were computed against), :class:`PlanError`,
:func:`observe` (the bulk refresh) and :func:`make_plan`, which diffs every address
(:mod:`agentform.diff`), limits the plan to ``--target`` and its dependencies, and puts the
changes in apply order: creates, updates and replaces in dependency order, deletes in reverse,
each change naming the others it waits for. The types a plan is made of, :class:`Action` and
:class:`Change` (:mod:`agentform.change`), :class:`Drift` and :class:`Risk`, are re-exported
here, where callers import them.

Pure: no I/O, no printing. Called by the CLI (``plan``, ``apply``), :mod:`agentform.workflow`,
and :func:`agentform.apply.apply_plan`, which walks ``Plan.changes``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agentform.change import Action, Change, Values
from agentform.diff import Drift, desired_change, drift, removed_change
from agentform.provider import ObservedResource, ResourceValue, bounded_call
from agentform.resources import dependencies
from agentform.risks import Risk
from agentform.spec.collector import paused_collector
from agentform.state.snapshot import StateSnapshot

__all__ = ["Action", "Change", "Drift", "Plan", "PlanError", "Risk", "make_plan", "observe"]


class PlanError(ValueError):
    """The plan request itself is wrong (an unknown ``--target`` or ``--replace`` address)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """Changes in apply order and the state (lineage, serial) they were computed against.

    Creates, updates and replaces come in dependency order, then deletes in reverse dependency
    order. ``lineage`` is None when there was no state yet.
    """

    project: str
    environment: str
    lineage: str | None
    serial: int
    changes: tuple[Change, ...] = ()
    drift: tuple[Drift, ...] = ()
    refresh_only: bool = False

    @property
    def has_changes(self) -> bool:
        if self.refresh_only:
            return bool(self.drift)
        return any(c.action is not Action.NOOP for c in self.changes)

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action is action)


@paused_collector()  # a bulk read of 10,000 resources allocates as many long-lived values
def observe(
    provider: Any, kinds: Iterable[str], recorded: StateSnapshot | None, timeout: float = 300.0
) -> dict[str, ObservedResource | None]:
    """Bulk refresh: every object of ``kinds`` the provider lists, and None for recorded
    addresses it no longer has. A provider that does not answer in ``timeout`` is an error
    (:class:`~agentform.provider.ProviderTimeout`)."""
    observed: dict[str, ObservedResource | None] = {}
    for kind in sorted(set(kinds)):
        listed = bounded_call(lambda: provider.list(kind), timeout, f"list {kind}")  # noqa: B023
        for resource in listed:
            observed[resource.address] = resource
    for address in recorded.resources if recorded else {}:
        observed.setdefault(address, None)
    return observed


@paused_collector()  # a 10,000-resource plan allocates many long-lived objects
def make_plan(
    desired: Mapping[str, ResourceValue],
    recorded: StateSnapshot | None,
    observed: Mapping[str, ObservedResource | None] | None = None,
    *,
    replace_fields: Mapping[str, Iterable[str]] | None = None,
    targets: Iterable[str] = (),
    force_replace: Iterable[str] = (),
    refresh_only: bool = False,
    project: str = "",
    environment: str = "",
) -> Plan:
    """Diff desired against recorded (and observed, when the caller refreshed) into a plan.

    ``observed`` maps addresses to what the provider reads now (None: gone); recorded addresses
    it does not name are compared with recorded values only, and an observed object at a desired
    address that state does not record (made by an interrupted apply) is adopted by an update,
    never created twice. ``replace_fields`` maps a kind to
    the fields that cannot change in place. ``targets`` limits the plan to those addresses and
    their dependencies; ``force_replace`` replaces addresses even when nothing changed.
    ``project``/``environment`` name the state when ``recorded`` is None.
    """
    state = recorded.resources if recorded is not None else {}
    seen = observed or {}
    replace = {kind: frozenset(f) for kind, f in (replace_fields or {}).items()}
    forced = frozenset(force_replace)
    for address in sorted(forced | frozenset(targets)):
        if address not in desired and address not in state:
            raise PlanError(
                f"{address} is neither in the spec nor in state; check the address "
                '(run "agentform graph" to list them)'
            )
    wanted = _with_dependencies(frozenset(targets), desired) if targets else None

    # one pass per address does its drift, its change and its dependencies while its values are
    # in the CPU caches: separate passes over 10,000 resources each missed them for every one
    drifted: dict[str, Drift] = {}
    changes: dict[str, Change] = {}
    needs: dict[str, frozenset[str]] = {}
    for address, value in desired.items():
        rec = state.get(address)
        as_recorded = False  # observed, and exactly what state recorded (the usual case)
        if rec is not None and address in seen:
            live = seen[address]
            as_recorded = live is not None and live.values == rec.values
            found_drift = None if as_recorded else drift(address, rec.values, live)
            if found_drift is not None:
                drifted[address] = found_drift
        if refresh_only or (wanted is not None and address not in wanted):
            continue
        needs[address] = dependencies(address, value.values)
        changes[address] = desired_change(
            address, value, rec, None if as_recorded else seen,
            replace.get(value.kind, frozenset()), address in forced,
        )  # fmt: skip
    for address, rec in state.items():
        if address in desired:
            continue
        if address in seen:
            found_drift = drift(address, rec.values, seen[address])
            if found_drift is not None:
                drifted[address] = found_drift
        if refresh_only or (wanted is not None and address not in wanted):
            continue
        changes[address] = removed_change(address, rec, seen)
    plan = Plan(
        project=recorded.project if recorded else project,
        environment=recorded.environment if recorded else environment,
        lineage=recorded.lineage if recorded else None,
        serial=recorded.serial if recorded else 0,
        drift=tuple(drifted[a] for a in sorted(drifted)),
        refresh_only=refresh_only,
    )
    if refresh_only:
        return plan
    return _ordered(plan, changes, needs, {a: r.values for a, r in state.items()})


def _with_dependencies(targets: frozenset[str], desired: Mapping[str, ResourceValue]) -> set[str]:
    out: set[str] = set()
    todo = list(targets)
    while todo:
        address = todo.pop()
        if address in out:
            continue
        out.add(address)
        if address in desired:
            todo.extend(dependencies(address, desired[address].values))
    return out


def _topological(addresses: Iterable[str], needs: Callable[[str], Iterable[str]]) -> list[str]:
    """``addresses`` in dependency order, level by level, each level sorted (Kahn's algorithm:
    linear in addresses and edges, plus one sort of the addresses). Works on positions in the
    sorted list rather than on addresses: one dictionary lookup per edge, the rest list
    indexing and sorts of small integers (10,000 resources' dictionaries of counters and users,
    and sorts comparing strings scattered in memory, missed the CPU caches at every step)."""
    order = sorted(set(addresses))
    index = {a: i for i, a in enumerate(order)}
    waiting = [0] * len(order)
    users: list[list[int] | None] = [None] * len(order)
    for i, address in enumerate(order):
        for dep in needs(address):
            j = index.get(dep)
            if j is not None:
                waiting[i] += 1
                found = users[j]
                if found is None:
                    users[j] = [i]
                else:
                    found.append(i)
    ready = [i for i, n in enumerate(waiting) if n == 0]  # ascending: sorted by address
    out: list[str] = []
    while ready:
        out.extend([order[i] for i in ready])
        unblocked = []
        for i in ready:
            for user in users[i] or ():
                waiting[user] -= 1
                if waiting[user] == 0:
                    unblocked.append(user)
        unblocked.sort()
        ready = unblocked
    if len(out) != len(order):
        stuck = ", ".join([order[i] for i, n in enumerate(waiting) if n > 0][:10])
        raise PlanError(f"resources depend on each other in a cycle: {stuck}")
    return out


def _ordered(
    plan: Plan,
    changes: dict[str, Change],
    wanted: Mapping[str, frozenset[str]],
    recorded: Mapping[str, Values],
) -> Plan:
    """Put changes in apply order and tell each which other changes it waits for. ``wanted``
    holds the dependencies of every desired address in the plan."""
    acting = {a for a, c in changes.items() if c.action is not Action.NOOP}
    deletes = {a for a, c in changes.items() if c.action is Action.DELETE}
    nothing: frozenset[str] = frozenset()

    def needs(address: str) -> frozenset[str]:
        return wanted.get(address, nothing)

    def needs_recorded(address: str) -> frozenset[str]:
        return dependencies(address, recorded.get(address, {}))

    ordered: list[Change] = []
    waited = acting - deletes  # what a change can wait for (deletes wait the other way round)
    for address in _topological(set(changes) - deletes, needs):
        change = changes[address]
        mine = needs(address)
        if waited and mine:
            change = _with_waits(change, sorted(mine & waited))
        ordered.append(change)
    # deletes go dependants first: a delete waits for every change to what recorded used it
    used_by: dict[str, list[str]] = {}
    if deletes:
        for user in acting:
            for dep in needs_recorded(user):
                if dep in deletes and dep != user:
                    used_by.setdefault(dep, []).append(user)
    for address in reversed(_topological(deletes, needs_recorded)):
        ordered.append(_with_waits(changes[address], sorted(used_by.get(address, ()))))
    return Plan(
        plan.project, plan.environment, plan.lineage, plan.serial, tuple(ordered), plan.drift
    )


def _with_waits(change: Change, waits: list[str]) -> Change:
    return dataclasses.replace(change, waits_for=tuple(waits)) if waits else change
