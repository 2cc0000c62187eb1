"""Plans: what apply would change, why, and how risky it is, computed before anything is touched.

This module owns :class:`Action` (which knows its symbol, ``+ ~ -/+ -``), :class:`Change` (one
address: action, before/after values, changed fields, reasons, risks), :class:`Risk`,
:class:`Drift` (observed differs from recorded) and :class:`Plan` (the changes in apply order
plus the project, environment, lineage and serial of the state they were computed against), and
:func:`make_plan`, which diffs desired against recorded (and observed when given). Every change
carries a reason, no-ops included ("up to date"): the diff explains itself before anything acts.

Pure: no I/O, no printing. Called by the CLI (``plan``, ``apply``) and by
:func:`agentform.apply.apply_plan`, which walks ``Plan.changes``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agentform.addresses import Address
from agentform.provider import ObservedResource, ResourceValue, bounded_call
from agentform.resources import dependencies
from agentform.risks import Risk, create_risks, update_risks
from agentform.spec.collector import paused_collector
from agentform.state.snapshot import RecordedResource, StateSnapshot

__all__ = ["Action", "Change", "Drift", "Plan", "PlanError", "Risk", "make_plan", "observe"]

Values = Mapping[str, Any]


class Action(enum.Enum):
    """What apply does to one address; ``.symbol`` is how a plan shows it."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    NOOP = "no-op"

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]


_SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "-/+",
    Action.DELETE: "-",
    Action.NOOP: " ",
}


class PlanError(ValueError):
    """The plan request itself is wrong (an unknown ``--target`` or ``--replace`` address)."""


@dataclass(frozen=True, slots=True)
class Change:
    """One address: the action, the values before and after, and why.

    ``before`` is what is there now (observed when the plan refreshed, else recorded), ``after``
    the desired values; ``id`` the provider id recorded in state. ``waits_for`` names the other
    changes of the plan that must succeed before this one starts.
    """

    address: str
    action: Action
    before: Values | None
    after: Values | None
    changed: tuple[str, ...] = ()
    replace_fields: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    risks: tuple[Risk, ...] = ()
    id: str | None = None
    waits_for: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return Address.kind_of(self.address)


@dataclass(frozen=True, slots=True)
class Drift:
    """A recorded resource whose observed values differ (``observed`` None: deleted outside)."""

    address: str
    fields: tuple[str, ...]
    recorded: Values
    observed: Values | None


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
            found_drift = None if as_recorded else _drift(address, rec.values, live)
            if found_drift is not None:
                drifted[address] = found_drift
        if refresh_only or (wanted is not None and address not in wanted):
            continue
        needs[address] = dependencies(address, value.values)
        changes[address] = _desired_change(
            address, value, rec, None if as_recorded else seen,
            replace.get(value.kind, frozenset()), address in forced,
        )  # fmt: skip
    for address, rec in state.items():
        if address in desired:
            continue
        if address in seen:
            found_drift = _drift(address, rec.values, seen[address])
            if found_drift is not None:
                drifted[address] = found_drift
        if refresh_only or (wanted is not None and address not in wanted):
            continue
        gone = address in seen and seen[address] is None
        reason = "removed from the spec" + (" (already deleted outside agentform)" if gone else "")
        risks: tuple[Risk, ...] = ()
        if rec.kind == "memory":
            risks = (_data_risk(address, seen.get(address)),)
        changes[address] = Change(
            address, Action.DELETE, dict(rec.values), None, reasons=(reason,), risks=risks,
            id=rec.id,
        )  # fmt: skip
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


def _desired_change(
    address: str,
    value: ResourceValue,
    rec: RecordedResource | None,
    seen: Mapping[str, ObservedResource | None] | None,
    replace: frozenset[str],
    forced: bool,
) -> Change:
    """The change for an address the spec declares: create, adopt, update, replace or no-op.
    ``seen`` is None when what the provider reports is exactly what state recorded."""
    if seen is None:
        assert rec is not None
        return _compare(address, rec.values, None, value.values, rec.id, replace, forced=forced)
    orphan = seen.get(address) if rec is None else None
    if orphan is not None:
        # made by an apply that was interrupted before it recorded it: adopt, never duplicate
        found = _compare(
            address, orphan.values, orphan.values, value.values, orphan.id, replace, forced=forced
        )
        return dataclasses.replace(
            found,
            action=Action.UPDATE if found.action is Action.NOOP else found.action,
            reasons=("exists but is not in state (an interrupted apply?): adopting it",
                     *(r for r in found.reasons if r != "up to date")),
        )  # fmt: skip
    if rec is None or (address in seen and seen[address] is None):
        reason = "not in state" if rec is None else "deleted outside agentform"
        return Change(
            address, Action.CREATE, None, value.values, tuple(sorted(value.values)),
            reasons=(reason,), risks=create_risks(address, value.values),
            id=rec.id if rec else None,
        )  # fmt: skip
    live = seen.get(address)
    return _compare(
        address, rec.values, live.values if live else None, value.values, rec.id, replace,
        forced=forced,
    )  # fmt: skip


def _data_risk(address: str, live: ObservedResource | None) -> Risk:
    """Deleting a memory store: high (and protected) unless the provider reports it empty."""
    data = live.values.get("data") if live is not None else None
    entries = data.get("entries") if isinstance(data, dict) else None
    if entries == 0:
        return Risk("low", f"{address} holds no data")
    held = f" ({entries} entries)" if isinstance(entries, int) else ""
    return Risk("high", f"deleting {address} destroys its data{held}")


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


def _drift(address: str, recorded: Values, live: ObservedResource | None) -> Drift | None:
    if live is None:
        return Drift(address, tuple(sorted(recorded)), recorded, None)
    fields = tuple(k for k in sorted(recorded) if live.values.get(k) != recorded[k])
    return Drift(address, fields, recorded, live.values) if fields else None


_UP_TO_DATE = ("up to date",)


def _compare(
    address: str,
    recorded: Values,
    live: Values | None,
    after: Values,
    id: str | None,
    replace_fields: frozenset[str],
    *,
    forced: bool,
) -> Change:
    if not forced and after == recorded and (live is None or live == after):
        # nothing changed (the usual case, one C-level comparison): no per-field walk
        return Change(address, Action.NOOP, live or recorded, after, reasons=_UP_TO_DATE, id=id)
    # compare with what is there now; fields only the provider reports (ids, status) are ignored
    before = dict(live) if live is not None else dict(recorded)
    keys = sorted(set(recorded) | set(after))
    changed = tuple(k for k in keys if before.get(k) != after.get(k))
    reasons = [_reason(k, before.get(k), after.get(k)) for k in changed]
    if live is not None and any(live.get(k) != recorded.get(k) for k in changed):
        reasons.append("changed outside agentform")
    stuck = tuple(k for k in changed if k in replace_fields)
    reasons += [f"{k} cannot change in place" for k in stuck]
    if forced:
        reasons.append("replace requested")
    if not changed and not forced:
        return Change(address, Action.NOOP, before, after, reasons=_UP_TO_DATE, id=id)
    action = Action.REPLACE if stuck or forced else Action.UPDATE
    risks = update_risks(address, before, after)
    if action is Action.REPLACE and address.startswith("memory."):
        risks += (Risk("high", f"replacing {address} destroys its data"),)
    return Change(address, action, before, after, changed, stuck, tuple(reasons), risks, id)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _reason(key: str, old: Any, new: Any) -> str:
    if isinstance(old, list) or isinstance(new, list):
        old_items, new_items = _as_list(old), _as_list(new)
        added = [f"+ {x}" for x in new_items if x not in old_items]
        removed = [f"- {x}" for x in old_items if x not in new_items]
        if (added or removed) and all(isinstance(x, str) for x in old_items + new_items):
            return f"{key}: {' '.join(added + removed)}"
        return f"{key} changed"
    if key == "instructions" or any(
        isinstance(v, dict) or (isinstance(v, str) and len(v) > 40) for v in (old, new)
    ):
        return f"{key} changed"
    if old is None:
        return f"{key} set to {new!r}"
    if new is None:
        return f"{key} unset (was {old!r})"
    return f"{key}: {old!r} → {new!r}"


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
