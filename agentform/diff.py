"""The diff of one address: desired against recorded, and observed when the plan refreshed.

This module owns :class:`Drift` (observed differs from recorded) and the rules that turn one
address's values into a :class:`~agentform.change.Change` with its reasons and risks: create
what state does not record (or what was deleted outside agentform), adopt an object an
interrupted apply made, update in place, replace when a field cannot change in place or a
replace was requested, delete what the spec no longer declares (a memory store's data loss is a
high risk unless the provider reports it empty), and say "up to date" for the rest: every change
explains itself. Pure; called by :func:`agentform.plan.make_plan`, once per address.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentform.addresses import Address
from agentform.change import Action, Change, Values
from agentform.contract import KINDS
from agentform.contract.sensitive import FIELD as SENSITIVE
from agentform.provider import ObservedResource, ResourceValue
from agentform.referenced_files import FIELD as FILES
from agentform.referenced_files import LABELS
from agentform.risks import Risk, create_risks, update_risks
from agentform.state.snapshot import RecordedResource

__all__ = ["Drift", "desired_change", "drift", "held_data", "own_values", "removed_change"]


@dataclass(frozen=True, slots=True)
class Drift:
    """A recorded resource whose observed values differ (``observed`` None: deleted outside)."""

    address: str
    fields: tuple[str, ...]
    recorded: Values
    observed: Values | None


def desired_change(
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
        own = own_values(address, orphan.values)
        found = _compare(address, own, own, value.values, orphan.id, replace, forced=forced)
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


def removed_change(
    address: str, rec: RecordedResource, seen: Mapping[str, ObservedResource | None]
) -> Change:
    """The delete of an address state records and the spec no longer declares."""
    gone = address in seen and seen[address] is None
    reason = "removed from the spec" + (" (already deleted outside agentform)" if gone else "")
    risks: tuple[Risk, ...] = ()
    before = dict(rec.values)
    if rec.kind == "memory":
        live = seen.get(address)
        data = live.values.get("data") if live is not None else None
        risks = (_data_risk(address, data),)
        if data is not None:
            before["data"] = data  # what the delete would lose, for apply's refusal to say
    return Change(address, Action.DELETE, before, None, reasons=(reason,), risks=risks, id=rec.id)


def own_values(address: str, observed: Values) -> dict[str, Any]:
    """The resource's own values among what a provider observed: the fields the contract
    declares for its kind, without what the provider reports about it (an agent's ``status``,
    a memory store's ``data``). What ``import`` records, and what an adopted orphan is compared
    by: a report recorded as a value would be an update in every later plan. A kind the
    contract does not know keeps everything."""
    kind = KINDS.get(address) or KINDS.get(Address.kind_of(address))
    if kind is None:
        return dict(observed)
    return {k: v for k, v in observed.items() if k in kind.model_fields}


def held_data(data: object) -> str | None:
    """What a memory store's observed ``data`` (``{"entries": N, "bytes": B}``) says it holds,
    as ``"12 entries, 3.4 kB"``; None when the provider did not report it."""
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, int):
        return None
    size = data.get("bytes") if isinstance(data, dict) else None
    held = f"{entries} entr{'y' if entries == 1 else 'ies'}"
    return f"{held}, {_size(size)}" if isinstance(size, int) else held


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} byte{'' if n == 1 else 's'}"
    value, unit = n / 1000, "kB"
    for bigger in ("MB", "GB", "TB"):
        if value < 1000:
            break
        value, unit = value / 1000, bigger
    return f"{value:.1f} {unit}"


def _data_risk(address: str, data: object) -> Risk:
    """Deleting a memory store: high (and protected) unless the provider reports it empty."""
    entries = data.get("entries") if isinstance(data, dict) else None
    if entries == 0:
        return Risk("low", f"{address} holds no data")
    held = held_data(data)
    return Risk("high", f"deleting {address} destroys its data{f' ({held})' if held else ''}")


def drift(address: str, recorded: Values, live: ObservedResource | None) -> Drift | None:
    """How ``live`` differs from what state recorded (``live`` None: gone), or None if not."""
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
    reasons = [
        _files_reason(address, before.get(k), after.get(k))
        if k == FILES
        else _reason(k, before.get(k), after.get(k))
        for k in changed
    ]
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
        held = held_data(before.get("data"))
        text = f"replacing {address} destroys its data{f' ({held})' if held else ''}"
        risks += (Risk("high", text),)
    return Change(address, action, before, after, changed, stuck, tuple(reasons), risks, id)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _files_reason(address: str, old: Any, new: Any) -> str:
    """``script file scripts/m.yaml changed``: the files whose content differs, by path."""
    label = LABELS.get(Address.kind_of(address), "file")
    before = old if isinstance(old, dict) else {}
    after = new if isinstance(new, dict) else {}
    parts = [
        f"{label} {path} {'is missing' if after[path] is None else 'changed'}"
        for path in sorted(after)
        if path in before and before[path] != after[path]
    ]
    # a path newly tracked: the spec names another file, or state was written by a version that
    # did not fingerprint files (the first plan after an upgrade)
    parts += [f"{label} {path} tracked" for path in sorted(after) if path not in before]
    parts += [f"{label} {path} no longer tracked" for path in sorted(before) if path not in after]
    return "; ".join(parts) or f"{FILES} changed"


def _reason(key: str, old: Any, new: Any) -> str:
    if key == SENSITIVE and isinstance(old, dict) and isinstance(new, dict):
        names = sorted(n for n in old.keys() | new.keys() if old.get(n) != new.get(n))
        return f"sensitive value of {', '.join(names)} changed"
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
