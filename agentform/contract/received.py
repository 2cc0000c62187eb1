"""What the runtime receives: each resource kind's spec shape, plus what planning resolved for it.

A ``*Value`` class extends its kind's shape (:mod:`.values`) with what planning resolved (an
agent's ``policies``, ``invokers`` and the project's ``budgets``, a policy's ``deciders``, the
store's ``grants``) and the planning-only fingerprints every received value carries
(:class:`Received`: ``secrets``; a model's or tool's ``files``; a tool's ``card``). Planning dumps
a resource into a :class:`~agentform.provider.ResourceValue`; the runtime reads it back with these
classes (:func:`agentform.contract.received`). Pure: pydantic and :mod:`.values` only.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from agentform.contract.values import (
    Agent,
    Bus,
    Filter,
    Frozen,
    Memory,
    Model,
    Name,
    Policy,
    ProjectLimits,
    Schedule,
    Store,
    Tool,
)
from agentform.durations import Duration


def _absent(value: Any) -> bool:
    return value is None


__all__ = [
    "AgentValue",
    "BusValue",
    "FilterValue",
    "Fingerprints",
    "MemoryValue",
    "ModelValue",
    "PolicyValue",
    "Received",
    "ScheduleValue",
    "StoreValue",
    "ToolValue",
]

Fingerprints = dict[str, str | None]


def _none(value: Any) -> bool:
    return not value


class Received(Frozen):
    """What every received value adds: ``secrets``, the fingerprints of the secrets it
    references (planning-only: a rotated secret is a change in the plan; the values themselves
    reach the engine beside the resource, never in it)."""

    secrets: Fingerprints = Field(default_factory=dict)


class BusValue(Bus, Received):
    """``runtime.bus`` as the engine receives it (read by ``runtime.host.bus_link``)."""


class StoreValue(Store, Received):
    """``runtime.store`` as the engine receives it (read by ``runtime.host.engine``).

    ``grants`` are the project-wide permissions planning resolved from ``access``: for
    ``admin:*``, ``read:tasks``, ``read:traces`` and ``read:memory``, the subjects whose roles
    grant it (the engine's control API checks a subject's bearer token against them,
    ``runtime.host.callers``). Written only when someone holds one."""

    grants: dict[str, list[str]] = Field(default_factory=dict, exclude_if=_none)
    # runtime.audit.retention, resolved here by planning: the engine prunes the audit log
    audit_retention: Duration | None = Field(None, exclude_if=_absent)
    # runtime.tasks.retention, resolved the same way: the engine deletes old task records
    task_retention: Duration | None = Field(None, exclude_if=_absent)


class ModelValue(Model, Received):
    """A model as its agents' workers receive it (read by ``runtime.models.config``)."""

    # planning-only: the content digest of its script (agentform.referenced_files), so an edited
    # rule file is a change in the plan and, through the workers' config hash, rolls them
    files: Fingerprints = Field(default_factory=dict, exclude_if=_none)


class ToolValue(Tool, Received):
    card: dict[str, Any] | None = Field(None, exclude_if=_absent)
    # fingerprints of the sensitive variables its mcp env and headers, or its a2a headers,
    # reference: the worker resolves those names (agentform.contract.sensitive)
    sensitive: Fingerprints = Field(default_factory=dict, exclude_if=_none)
    # planning-only: content digests of the server code its mcp command names, as a model's
    # script (agentform.referenced_files)
    files: Fingerprints = Field(default_factory=dict, exclude_if=_none)


class MemoryValue(Memory, Received):
    """A memory store as the engine and workers receive it (``runtime.store.memory.config``)."""


class PolicyValue(Policy, Received):
    """A policy as the runtime receives it: ``deciders`` are the subjects whose roles grant
    ``approve`` on it (or ``admin``), resolved by planning, who may decide the calls it holds."""

    deciders: list[str] = Field(default_factory=list, exclude_if=_none)


class FilterValue(Filter, Received):
    """A content filter as the engine and its agents' workers receive it
    (``runtime.policy.filters``)."""


class ScheduleValue(Schedule, Received):
    """A schedule as the engine receives it: the engine holding the scheduler lease fires it
    (:mod:`agentform.runtime.scheduler`)."""


class AgentValue(Agent, Received):
    """An agent as its workers receive it: ``policies`` are the names of the policies that
    govern it and ``invokers`` the subjects allowed to send it tasks, both resolved by planning
    so the runtime never matches permission globs itself."""

    policies: list[Name] = Field(default_factory=list)
    invokers: list[str] = Field(default_factory=list)
    # each delegate's description, what the agent's model is offered (resolved by planning)
    delegate_descriptions: dict[Name, str] = Field(default_factory=dict)
    # fingerprints of the sensitive variables its instructions reference: the worker resolves
    # those names for the model, and masks their values in what it records
    sensitive: Fingerprints = Field(default_factory=dict, exclude_if=_none)
    cancelers: list[str] = Field(default_factory=list, exclude_if=_none)
    readers: list[str] = Field(default_factory=list, exclude_if=_none)
    # the project's top-level limits, resolved onto every agent by planning: its workers
    # enforce the budgets and ceilings, the engine refuses tasks once a budget is spent
    budgets: ProjectLimits | None = Field(None, exclude_if=_absent)
