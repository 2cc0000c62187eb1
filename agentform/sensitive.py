"""Sensitive variable fingerprints: how a plan notices a changed value without ever holding it.

The spec keeps ``${var.NAME}`` of a variable declared ``sensitive: true`` as a reference
(:mod:`agentform.contract.sensitive` says where it may be used). So that a new value (same name,
same spec) is still a change that ``plan`` shows and ``apply`` rolls out, every resource that
references sensitive variables also gets a ``sensitive`` field mapping each name to a
fingerprint of its value, made as a secret's is (:func:`agentform.secrets.fingerprint`). The
values themselves come from the loaded spec (``--var``, ``AGENTFORM_VAR_NAME``, a default) and
reach a provider through :class:`~agentform.provider.ProviderContext`, never through values.
Pure; called by :mod:`agentform.workflow` when it prepares a plan and when it loads a saved one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from agentform.contract.sensitive import FIELD, referenced
from agentform.plan import Plan
from agentform.provider import ResourceValue
from agentform.secrets import fingerprint

__all__ = ["FIELD", "changed_since", "with_fingerprints"]


def with_fingerprints(
    desired: Mapping[str, ResourceValue], values: Mapping[str, str], project: str
) -> dict[str, ResourceValue]:
    """``desired`` with a ``sensitive`` field on each resource that references sensitive
    variables (``values``: name -> value, for the variables declared sensitive)."""
    if not values:
        return dict(desired)
    out: dict[str, ResourceValue] = {}
    for address, resource in desired.items():
        names = referenced(resource.values) & values.keys()
        if not names:
            out[address] = resource
            continue
        prints = {name: fingerprint(values[name], project) for name in sorted(names)}
        out[address] = ResourceValue.of(address, {**resource.values, FIELD: prints})
    return out


def changed_since(plan: Plan, values: Mapping[str, str], project: str) -> list[str]:
    """The sensitive variables whose value is not the one ``plan`` was made with (a saved plan
    applied with other ``--var`` values): the plan's fingerprints would describe values that
    are not the ones sent."""
    changed: set[str] = set()
    for change in plan.changes:
        prints = (change.after or {}).get(FIELD)
        if isinstance(prints, Mapping):
            changed.update(_differ(prints.items(), values, project))
    return sorted(changed)


def _differ(
    prints: Iterable[tuple[str, object]], values: Mapping[str, str], project: str
) -> Iterable[str]:
    for name, made in prints:
        value = values.get(name)
        if value is None or fingerprint(value, project) != made:
            yield name
