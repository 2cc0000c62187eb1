"""Desired resources: the plain values a provider is asked to make real, derived from a spec.

This module owns the translation from typed spec models to plain
:class:`~agentform.provider.ResourceValue` (:func:`desired_resources`) and the one rule that
reads dependencies back out of those plain values (:func:`dependencies`), so the planner can
order recorded resources that are no longer in the spec. Values are the JSON-able dump of the
spec object (``model_dump(mode="json")``); an agent also carries ``policies``, the names of the
policies that govern it, and ``invokers``, the subjects allowed to send it tasks, both resolved
here because a provider deploying the agent must know them and must not match globs itself.
Secrets stay ``${secret.NAME}`` references: nothing here resolves them.

Pure. Called by the planner (:mod:`agentform.plan`) and, through plans, by apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentform.addresses import Address
from agentform.graph import BUS, STORE, build_graph
from agentform.provider import ResourceValue
from agentform.spec.checks.governance import permits
from agentform.spec.models import Spec

__all__ = ["GRANTS", "dependencies", "desired_resources", "invokers", "subjects_with"]

# the project-wide permissions resolved onto runtime.store's value, by name: (verb, target)
GRANTS = {
    "admin:*": ("admin", "*"),
    "read:tasks": ("read", "tasks"),
    "read:traces": ("read", "traces"),
    "read:memory": ("read", "memory"),
    "read:audit": ("read", "audit"),
}


def desired_resources(spec: Spec) -> dict[str, ResourceValue]:
    """Every resource the spec declares, keyed by address, in dependency (graph) order.

    One per agent, model, tool, memory store, policy, content filter and schedule, plus
    ``runtime.bus`` and ``runtime.store``.
    """
    graph = build_graph(spec)
    values: dict[str, dict[str, Any]] = {
        BUS: spec.runtime.bus.model_dump(mode="json"),
        STORE: spec.runtime.store.model_dump(mode="json"),
    }
    sections: Mapping[str, Mapping[str, Any]] = {
        "model": spec.models,
        "tool": spec.tools,
        "memory": spec.memory,
        "policy": spec.policies,
        "filter": spec.filters,
        "agent": spec.agents,
        "schedule": spec.schedules,
    }
    for kind, items in sections.items():
        for name, item in items.items():
            values[f"{kind}.{name}"] = item.model_dump(mode="json")
    grants = {
        permission: holders
        for permission, (verb, target) in GRANTS.items()
        if (holders := subjects_with(spec, verb, target))
    }
    if grants:  # project-wide permissions, for the engine's control API
        values[STORE]["grants"] = grants
    retention = spec.runtime.audit.model_dump(mode="json")["retention"]
    if retention is not None:  # the engine prunes the audit log it keeps in the store
        values[STORE]["audit_retention"] = retention
    retention = spec.runtime.tasks.model_dump(mode="json")["retention"]
    if retention is not None:  # and deletes the task records that ended before it
        values[STORE]["task_retention"] = retention
    for name in spec.policies:
        # resolved here, like invokers: who may decide the calls this policy holds
        deciders = subjects_with(spec, "approve", name)
        if deciders:
            values[f"policy.{name}"]["deciders"] = deciders
    for name in spec.agents:
        address = f"agent.{name}"
        values[address]["policies"] = sorted(
            Address.name_of(d) for d in graph.depends[address] if d.startswith("policy.")
        )
        values[address]["invokers"] = invokers(spec, name)
        # what its model is offered of each delegate, resolved here: its workers start with it
        # whatever order apply registers the agents in (and are not rolled once more when a
        # delegate arrives), and a plan shows a delegate's new description on it too. Always
        # written, empty too: a provider that merges values would keep a key left out
        values[address]["delegate_descriptions"] = {
            d: spec.agents[d].description for d in spec.agents[name].delegates if d in spec.agents
        }
        # written only when someone holds them, so specs without such roles keep their values
        for key, verb, target in (("cancelers", "cancel", name), ("readers", "read", "tasks")):
            holders = subjects_with(spec, verb, target)
            if holders:
                values[address][key] = holders
        # resolved here, like policies; written only when it denies, so specs that never say
        # default_effect keep the values (and plans) they had
        budgets = spec.limits.model_dump(mode="json", exclude_defaults=True)
        if budgets:  # the project's limits: written only when declared (plans stay as they were)
            values[address]["budgets"] = spec.limits.model_dump(mode="json")
        effect = spec.agents[name].default_effect or spec.default_effect
        if effect == "deny":
            values[address]["default_effect"] = "deny"
        else:
            values[address].pop("default_effect", None)
    return {address: ResourceValue.of(address, values[address]) for address in graph.order()}


def invokers(spec: Spec, agent: str) -> list[str]:
    """The subjects of ``access.members`` whose roles grant ``invoke`` on ``agent``, sorted.

    Resolved here, like ``policies``, so the agent's A2A server checks a plain list and never
    matches permission globs itself.
    """
    return subjects_with(spec, "invoke", agent)


def subjects_with(spec: Spec, verb: str, target: str) -> list[str]:
    """The subjects of ``access.members`` whose roles grant ``verb`` on ``target``, sorted."""
    roles = spec.access.roles
    return sorted(
        subject
        for subject, held in spec.access.members.items()
        if any(permits(roles.get(role, []), verb, target) for role in held)
    )


def _names(values: Mapping[str, Any], key: str) -> list[str]:
    found = values.get(key)
    if isinstance(found, str):
        return [found]
    if isinstance(found, list):
        return [str(item) for item in found]
    return []


def dependencies(address: str, values: Mapping[str, Any]) -> frozenset[str]:
    """The addresses ``address`` needs, read from its plain values (desired or recorded).

    Mirrors :func:`agentform.graph.build_graph` (a test holds them equal) but needs no spec, so
    it works for resources that exist only in state. Delegation edges are not dependencies.
    """
    kind = Address.kind_of(address)
    if kind == "agent":
        return frozenset(
            [BUS, STORE]
            + [f"model.{m}" for m in _names(values, "model")]
            + [f"tool.{t}" for t in _names(values, "tools")]
            + [f"memory.{m}" for m in _names(values, "memory")]
            + [f"policy.{p}" for p in _names(values, "policies")]
            + [f"filter.{f}" for f in _names(values, "filters")]
        )
    if kind == "memory":
        return frozenset([STORE])
    if kind == "model":
        return frozenset(f"model.{m}" for m in _names(values, "fallback"))
    if kind == "schedule":
        return frozenset(f"agent.{a}" for a in _names(values, "agent"))
    return frozenset()
