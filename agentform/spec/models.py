"""The typed spec: pydantic models for every section of an agentform YAML file.

The resource kinds (agents, models, tools, memory stores, policies, content filters, schedules,
access, the bus and the store) are defined in :mod:`agentform.contract.values`, because the runtime
receives the same values, and re-exported here; this module adds the spec's own sections (variables,
target, environments) and :class:`Spec`. Together they are the source of truth for the spec's shape;
``schemas/agentform.schema.json`` is generated from them (:mod:`agentform.spec.schema`). They check
only what one object can check by itself (types, ranges, enumerations, unknown keys); rules that
span objects (references, cycles, policies covering tools) live in :mod:`agentform.spec.checks`,
which reports them all at once with locations. Built by :func:`agentform.spec.loader.load_spec`;
read by checks, the graph and planning.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from agentform.contract.values import (
    A2aAgent,
    Access,
    Agent,
    AgentLimits,
    Audit,
    Budget,
    Bus,
    CircuitBreaker,
    Filter,
    FilterPattern,
    McpServer,
    Memory,
    MemoryAccess,
    MemoryLimits,
    Model,
    ModelLimits,
    Name,
    Policy,
    Pricing,
    ProjectLimits,
    RedactPattern,
    Schedule,
    SessionContext,
    Skill,
    Store,
    Tasks,
    Tool,
)
from agentform.contract.values import Frozen as _Model

__all__ = [
    "A2aAgent",
    "Access",
    "Agent",
    "AgentLimits",
    "Audit",
    "Budget",
    "Bus",
    "CircuitBreaker",
    "EnvironmentOverlay",
    "Filter",
    "FilterPattern",
    "McpServer",
    "Memory",
    "MemoryAccess",
    "MemoryLimits",
    "Model",
    "ModelLimits",
    "Policy",
    "Pricing",
    "ProjectLimits",
    "RedactPattern",
    "Runtime",
    "Schedule",
    "SessionContext",
    "Skill",
    "Spec",
    "Store",
    "Target",
    "Tasks",
    "Tool",
    "Variable",
]


class Variable(_Model):
    """An input, used as ``${var.NAME}``; set by --var, AGENTFORM_VAR_NAME or its default."""

    description: str = ""
    type: Literal["string", "number", "integer", "boolean", "list", "map", "any"] = "any"
    default: Any = None
    sensitive: bool = Field(
        False,
        description="Keep the value out of plans, state, task records and logs: ${var.NAME}"
        " stays a reference, resolved at run time in agents' instructions, MCP env and headers"
        " and A2A headers only.",
    )


class Target(_Model):
    """Where apply deploys: a provider name from the ``agentform.providers`` entry points."""

    provider: str = "local"
    config: dict[str, Any] = Field(default_factory=dict, description="Provider-specific settings.")


class Runtime(_Model):
    bus: Bus = Field(default_factory=Bus)
    store: Store = Field(default_factory=Store)
    audit: Audit = Field(default_factory=Audit)
    tasks: Tasks = Field(default_factory=Tasks)


class EnvironmentOverlay(_Model):
    """Values merged over the base spec by ``--env NAME``; ``null`` removes a key."""

    variables: dict[str, Any] | None = None
    target: dict[str, Any] | None = None
    runtime: dict[str, Any] | None = None
    models: dict[str, Any] | None = None
    tools: dict[str, Any] | None = None
    memory: dict[str, Any] | None = None
    agents: dict[str, Any] | None = None
    policies: dict[str, Any] | None = None
    filters: dict[str, Any] | None = None
    access: dict[str, Any] | None = None
    schedules: dict[str, Any] | None = None
    limits: dict[str, Any] | None = None
    default_effect: Literal["allow", "deny"] | None = None


class Spec(_Model):
    """An agentform project: the desired state of an agent system."""

    version: Literal[1]
    project: Name
    description: str = ""
    include: list[str] = Field(
        default_factory=list, description="Other spec files (globs allowed), relative to this file."
    )
    variables: dict[Name, Variable] = Field(default_factory=dict)
    default_effect: Literal["allow", "deny"] = Field(
        "allow",
        description="What a tool call no policy applies to gets, for agents that do not say:"
        " allow (default), or deny (only what an allow policy names may be called).",
    )
    target: Target = Field(default_factory=Target)
    runtime: Runtime = Field(default_factory=Runtime)
    models: dict[Name, Model] = Field(default_factory=dict)
    tools: dict[Name, Tool] = Field(default_factory=dict)
    memory: dict[Name, Memory] = Field(default_factory=dict)
    agents: dict[Name, Agent] = Field(default_factory=dict)
    policies: dict[Name, Policy] = Field(default_factory=dict)
    filters: dict[Name, Filter] = Field(
        default_factory=dict,
        description="Content filters: what to detect in agents' text, where, and whether a hit"
        " blocks, is redacted or is flagged; agents list the ones they use.",
    )
    access: Access = Field(default_factory=Access)
    schedules: dict[Name, Schedule] = Field(default_factory=dict)
    limits: ProjectLimits = Field(
        default_factory=ProjectLimits,
        description="Budgets across tasks (the whole project, and per caller, per window) and"
        " ceilings on every task; enforced across replicas.",
    )
    environments: dict[Name, EnvironmentOverlay] = Field(
        default_factory=dict, description="Overlays merged over this spec by --env NAME."
    )
