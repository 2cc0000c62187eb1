"""Plans for people: Terraform-style text with symbols, field-level before/after and risks.

::

    ~ agent.triage  (update in place)
        # instructions changed; tools: + refunds
        ~ instructions: "You triage…" -> "You triage and route…"
        ~ tools: ["kb"] -> ["kb", "refunds"]
        ~ sensitive: pin (sensitive value changed)
      ! medium: agent.triage may now call tool refunds
    ~ model.fast  (update in place)
        # script file scripts/fast.yaml changed
        ~ files: scripts/fast.yaml (content changed)
      ! medium: the rules of model.fast changed: the agents using it will answer differently

    Plan: 1 to add, 1 to change, 0 to replace, 0 to destroy.

A sensitive variable shows as its reference (``${var.pin}``) where it is used, and its
fingerprints as the names whose value changed, never as digests; the files a model or tool points
at show as their paths. Pure: returns a string (ANSI
colours when asked) and never prints. Called by the CLI ``plan``
and ``apply`` commands. The machine-readable form is :mod:`agentform.planfile`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from agentform.contract.sensitive import FIELD as SENSITIVE
from agentform.plan import Action, Change, Plan
from agentform.referenced_files import FIELD as FILES
from agentform.triggers import upcoming

__all__ = ["render_plan", "summary"]

_COLOR = {
    Action.CREATE: "\x1b[32m",
    Action.UPDATE: "\x1b[33m",
    Action.REPLACE: "\x1b[35m",
    Action.DELETE: "\x1b[31m",
    Action.NOOP: "",
}
_RISK = {"high": "\x1b[1;31m", "medium": "\x1b[33m", "low": "\x1b[2m"}
_RESET = "\x1b[0m"
_WHAT = {
    Action.CREATE: "create",
    Action.UPDATE: "update in place",
    Action.REPLACE: "replace",
    Action.DELETE: "destroy",
}
_MAX = 60


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if isinstance(value, str) and "\n" in value:
        lines = value.count("\n") + 1
        first = value.split("\n", 1)[0]
        text = json.dumps(first[:_MAX] + ("…" if len(first) > _MAX else ""), ensure_ascii=False)
        return f"{text} (+{lines - 1} more lines)"
    return text if len(text) <= _MAX else text[: _MAX - 1] + "…"


def _sensitive(before: Any, after: Any) -> str:
    """The names of the sensitive variables whose fingerprint differs, never the digests."""
    old = before if isinstance(before, Mapping) else {}
    new = after if isinstance(after, Mapping) else {}
    parts = [f"{n} (sensitive value changed)" for n in sorted(new) if n in old and old[n] != new[n]]
    parts += [f"+ {n}" for n in sorted(new) if n not in old]
    parts += [f"- {n}" for n in sorted(old) if n not in new]
    return ", ".join(parts)


def _files(before: Any, after: Any) -> str:
    """The paths of the files whose content differs, never the digests."""
    old = before if isinstance(before, Mapping) else {}
    new = after if isinstance(after, Mapping) else {}
    parts = [f"{p} (content changed)" for p in sorted(new) if p in old and old[p] != new[p]]
    parts += [f"+ {p}" for p in sorted(new) if p not in old]
    parts += [f"- {p}" for p in sorted(old) if p not in new]
    return ", ".join(parts)


def _named(prints: Any) -> str:
    return ", ".join(f"{n} (sensitive value)" for n in sorted(prints))


def _fields(change: Change) -> list[str]:
    before: Mapping[str, Any] = change.before or {}
    after: Mapping[str, Any] = change.after or {}
    if change.action is Action.CREATE:
        return [
            f"+ {k}: {_named(v) if k == SENSITIVE else ', '.join(v) if k == FILES else _show(v)}"
            for k, v in after.items()
            if v not in (None, "", [], {})
        ]
    if change.action is Action.DELETE:
        return []
    out = []
    for key in change.changed:
        mark = "  # forces replacement" if key in change.replace_fields else ""
        if key == SENSITIVE:
            out.append(f"~ {key}: {_sensitive(before.get(key), after.get(key))}{mark}")
        elif key == FILES:
            out.append(f"~ {key}: {_files(before.get(key), after.get(key))}{mark}")
        elif key not in before:
            out.append(f"+ {key}: {_show(after.get(key))}{mark}")
        elif key not in after:
            out.append(f"- {key}: {_show(before.get(key))}{mark}")
        else:
            out.append(f"~ {key}: {_show(before.get(key))} -> {_show(after.get(key))}{mark}")
    return out


def summary(plan: Plan) -> str:
    """``Plan: 2 to add, 1 to change, 0 to replace, 1 to destroy.`` (or "No changes.")."""
    if plan.refresh_only:
        n = len(plan.drift)
        return f"Refresh: {n} object{'s' if n != 1 else ''} changed outside agentform."
    if not plan.has_changes:
        return "No changes. The running system matches the spec."
    return (
        f"Plan: {plan.count(Action.CREATE)} to add, {plan.count(Action.UPDATE)} to change, "
        f"{plan.count(Action.REPLACE)} to replace, {plan.count(Action.DELETE)} to destroy."
    )


def render_plan(plan: Plan, *, color: bool = False, now: datetime | None = None) -> str:
    """The whole plan: drift first, then each change with its reasons, fields and risks. With
    ``now``, a schedule created or changed shows its next fire times after it."""

    def paint(code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if color and code else text

    lines: list[str] = []
    if plan.drift:
        lines.append("Objects changed outside agentform:")
        for drift in plan.drift:
            what = "deleted" if drift.observed is None else ", ".join(drift.fields)
            lines.append(f"  ~ {drift.address}: {what}")
        lines.append("")
    for change in plan.changes:
        if change.action is Action.NOOP or plan.refresh_only:
            continue
        symbol = paint(_COLOR[change.action], change.action.symbol)
        lines.append(f"{symbol} {change.address}  ({_WHAT[change.action]})")
        if change.reasons:
            lines.append(f"    # {'; '.join(change.reasons)}")
        if now is not None and change.kind == "schedule" and change.after is not None:
            fires = upcoming(change.after, now)
            lines.extend([f"    # {fires}"] if fires else [])
        lines.extend(f"    {field}" for field in _fields(change))
        for risk in change.risks:
            lines.append("  " + paint(_RISK[risk.level], f"! {risk.level}: {risk.message}"))
        lines.append("")
    lines.append(summary(plan))
    return "\n".join(lines) + "\n"
