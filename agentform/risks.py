"""Behaviour risks of a change: what a reviewer should look at before applying.

Owns :class:`Risk` (a level and a sentence) and the rules that flag them: an agent that may call
a new tool or delegate along a new edge, edited instructions, a policy that widens (effect,
condition removed, more agents or tools allowed), a memory store whose retention or ttl shrinks,
a new allow policy, an edited rule file of a model or server code of a tool. Deleting or
replacing a memory store (data loss) is flagged by the planner. Pure; called by the diff of one
address (:mod:`agentform.diff`, for :func:`agentform.plan.make_plan`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from agentform.addresses import Address
from agentform.durations import parse_duration
from agentform.referenced_files import FIELD as FILES

__all__ = ["Risk", "create_risks", "update_risks"]

Values = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Risk:
    """A behaviour change a reviewer should look at before applying."""

    level: Literal["low", "medium", "high"]
    message: str


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


_EFFECT_RANK = {"deny": 0, "require_approval": 1, "allow": 2}


def create_risks(address: str, after: Values) -> tuple[Risk, ...]:
    if address.startswith("policy.") and after.get("effect") == "allow":
        return (Risk("high", f"new allow policy {address} widens what agents may call"),)
    return ()


def update_risks(address: str, before: Values, after: Values) -> tuple[Risk, ...]:
    kind = Address.kind_of(address)
    check = _RISK_CHECKS.get(kind)
    return tuple(check(address, before, after)) if check else ()


def _added(before: Values, after: Values, key: str) -> list[Any]:
    old = _as_list(before.get(key))
    return [x for x in _as_list(after.get(key)) if x not in old]


def _agent_risks(address: str, before: Values, after: Values) -> Iterable[Risk]:
    for tool in _added(before, after, "tools"):
        yield Risk("medium", f"{address} may now call tool {tool}")
    for agent in _added(before, after, "delegates"):
        yield Risk("medium", f"new delegation edge {address} → agent.{agent}")
    if before.get("instructions") != after.get("instructions"):
        yield Risk("medium", f"instructions of {address} changed: its behaviour will change")


def _policy_risks(address: str, before: Values, after: Values) -> Iterable[Risk]:
    old, new = before.get("effect"), after.get("effect")
    if _EFFECT_RANK.get(str(new), 0) > _EFFECT_RANK.get(str(old), 2):
        yield Risk("high", f"{address} widened: {old} → {new}")
    if before.get("when") and not after.get("when"):
        level: Literal["low", "high"] = "high" if new == "allow" else "low"
        yield Risk(level, f"{address} no longer has a condition: it applies to every call")
    if new == "allow":
        for key in ("agents", "tools"):
            for item in _added(before, after, key):
                yield Risk("high", f"allow policy {address} now covers {key}: + {item}")


def _memory_risks(address: str, before: Values, after: Values) -> Iterable[Risk]:
    for key, level in (("retention", "high"), ("ttl", "medium")):
        if _shorter(before.get(key), after.get(key)):
            yield Risk(
                "high" if level == "high" else "medium",
                f"{key} of {address} shortened: {before.get(key) or 'unlimited'}"
                f" → {after.get(key)}; data expires sooner",
            )


def _shorter(old: Any, new: Any) -> bool:
    if not isinstance(new, str):
        return False
    if not isinstance(old, str):
        return True  # unlimited → limited
    try:
        return parse_duration(new) < parse_duration(old)
    except ValueError:
        return False


def _file_risks(address: str, before: Values, after: Values) -> Iterable[Risk]:
    old, new = before.get(FILES), after.get(FILES)
    if not (isinstance(old, Mapping) and isinstance(new, Mapping)):
        return  # files newly tracked (or no longer): the content did not change for that
    edited = sorted(p for p in new if p in old and old[p] != new[p])
    if not edited:
        return
    if Address.kind_of(address) == "model":
        yield Risk(
            "medium",
            f"the rules of {address} changed: the agents using it will answer differently",
        )
    else:
        yield Risk(
            "medium",
            f"the code of {address}'s server changed ({', '.join(edited)}): its results may change",
        )


_RISK_CHECKS: dict[str, Callable[[str, Values, Values], Iterable[Risk]]] = {
    "agent": _agent_risks,
    "policy": _policy_risks,
    "memory": _memory_risks,
    "model": _file_risks,
    "tool": _file_risks,
}


# -- ordering ---------------------------------------------------------------------------------
