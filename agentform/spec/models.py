"""The typed spec: pydantic models for every section of an agentform YAML file.

These models are the source of truth for the spec's shape; ``schemas/agentform.schema.json`` is
generated from them (:mod:`agentform.spec.schema`). They check only what one object can check by
itself (types, ranges, enumerations, unknown keys); rules that span objects (references,
cycles, policies covering tools) live in :mod:`agentform.spec.checks`, which reports them all at
once with locations. Built by :func:`agentform.spec.loader.load_spec`; read by checks, the graph
and (later) planning.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentform.durations import Duration

__all__ = [
    "A2aAgent",
    "Access",
    "Agent",
    "AgentLimits",
    "Bus",
    "CircuitBreaker",
    "EnvironmentOverlay",
    "McpServer",
    "Memory",
    "MemoryAccess",
    "MemoryLimits",
    "Model",
    "ModelLimits",
    "Policy",
    "Pricing",
    "RedactPattern",
    "Runtime",
    "Schedule",
    "SessionContext",
    "Skill",
    "Spec",
    "Store",
    "Target",
    "Tool",
    "Variable",
]

Name = str  # validated by the checks (AF202) so every bad name is reported with its location
PositiveInt = Annotated[int, Field(ge=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Variable(_Model):
    """An input, used as ``${var.NAME}``; set by --var, AGENTFORM_VAR_NAME or its default."""

    description: str = ""
    type: Literal["string", "number", "integer", "boolean", "list", "map", "any"] = "any"
    default: Any = None
    sensitive: bool = Field(False, description="Never print the value in plans or logs.")


class Target(_Model):
    """Where apply deploys: a provider name from the ``agentform.providers`` entry points."""

    provider: str = "local"
    config: dict[str, Any] = Field(default_factory=dict, description="Provider-specific settings.")


class Bus(_Model):
    url: str = Field(
        "embedded",
        description="'embedded' (a nats-server started by agentform) or nats://host:port",
    )
    stream_prefix: str = "agentform"


class Store(_Model):
    url: str = Field(
        "sqlite:///.agentform/runtime.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://...",
    )


class Runtime(_Model):
    bus: Bus = Field(default_factory=Bus)
    store: Store = Field(default_factory=Store)


class ModelLimits(_Model):
    requests_per_minute: PositiveInt | None = None
    tokens_per_minute: PositiveInt | None = None
    max_concurrency: PositiveInt | None = None


class Pricing(_Model):
    """Price in USD per million tokens, used for cost accounting and budgets."""

    input_per_mtok: float = Field(0.0, ge=0)
    output_per_mtok: float = Field(0.0, ge=0)


class Model(_Model):
    """A language model endpoint. ``scripted`` is deterministic and offline (examples, tests)."""

    provider: Literal["openai", "anthropic", "scripted"]
    model: str | None = Field(None, description="The provider's model id, e.g. gpt-4o-mini.")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint (vLLM, Ollama...).")
    api_key: str | None = Field(None, description="Use a reference: ${secret.NAME}.")
    script: str | None = Field(
        None, description="Rule file of a scripted model, relative to the spec file."
    )
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: PositiveInt | None = None
    timeout: Duration | None = None
    max_retries: int = Field(3, ge=0, le=20)
    limits: ModelLimits = Field(default_factory=ModelLimits)
    pricing: Pricing | None = None
    fallback: list[Name] = Field(
        default_factory=list, description="Models to use, in order, when this one fails."
    )


class McpServer(_Model):
    """How to reach an MCP server: a local command (stdio) or a URL (streamable HTTP)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"oneOf": [{"required": ["command"]}, {"required": ["url"]}]},
    )

    command: list[str] | None = Field(None, min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)


class A2aAgent(_Model):
    """An agent outside the project, reached over A2A through its agent card."""

    url: str = Field(
        description="The agent card's URL, or the agent's base URL (the card is then read from "
        "/.well-known/agent-card.json)."
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Sent with every request; values may use ${secret.NAME}.",
    )


def _absent(value: Any) -> bool:
    return value is None


class Tool(_Model):
    """A capability agents may call: an MCP server's tools, or an outside agent over A2A."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"oneOf": [{"required": ["mcp"]}, {"required": ["a2a"]}]},
    )

    description: str = ""
    # left out of the values when absent, so adding a2a did not change every MCP tool's values
    mcp: McpServer | None = Field(None, exclude_if=_absent)
    a2a: A2aAgent | None = Field(
        None, exclude_if=_absent, description="An outside agent, called with one message."
    )
    side_effects: Literal["none", "idempotent", "unsafe"] = Field(
        "unsafe",
        description="none: read-only; idempotent: safe to repeat; unsafe: may not be "
        "repeated and needs an approval policy.",
    )
    timeout: Duration | None = None
    expose: list[str] | None = Field(
        None, description="Only these MCP tools of the server (not for a2a)."
    )
    lock: str | None = Field(
        None,
        exclude_if=_absent,
        description="Calls that render the same lock name run one at a time, across every agent"
        " and replica (a lease in JetStream KV, freed if its holder dies): a template over the"
        " call's arguments, e.g. 'order-{{ arguments.order_id }}'.",
    )


class RedactPattern(_Model):
    """A custom redaction: text matching ``pattern`` is replaced before it is written."""

    name: Name = Field(description="Label, used in the default replacement [REDACTED:name].")
    pattern: str = Field(description="Python regular expression.", max_length=500)
    replacement: str | None = None


class MemoryLimits(_Model):
    """Size caps; a write that would exceed them is refused (or evicts the oldest entries)."""

    max_item_bytes: PositiveInt = Field(65536, description="Largest single entry, in bytes.")
    max_scope_bytes: PositiveInt | None = Field(
        None, description="Total bytes one scope key (one customer, one user...) may hold."
    )
    max_scope_items: PositiveInt | None = Field(None, description="Entries one scope key may hold.")
    on_full: Literal["reject", "evict_oldest"] | None = Field(
        None,
        description="What a write over a scope cap does; default reject, evict_oldest for"
        " session stores (old turns are dropped from context first anyway).",
    )


class MemoryAccess(_Model):
    """Which agents may read and write a store (names or globs); default: every agent that
    lists the store. Denied requests are refused and recorded."""

    read: list[str] | None = None
    write: list[str] | None = None


class SessionContext(_Model):
    """How much of a conversation's history goes into the model's context."""

    max_tokens: PositiveInt = Field(4000, description="Token budget for earlier turns.")
    strategy: Literal["drop_oldest", "summarize"] = Field(
        "drop_oldest",
        description="Turns over the budget are dropped whole (and the model told so), or"
        " summarised by the agent's model. A turn is never cut mid-message.",
    )


class Memory(_Model):
    """A memory store: session, long_term, working or shared."""

    kind: Literal["session", "long_term", "working", "shared"]
    scope: Literal["conversation", "user", "customer", "agent", "global"] | None = None
    scope_from: str | None = Field(
        None,
        description="The task input that names the scope key (default customer_id for"
        " scope customer, user_id for scope user).",
    )
    ttl: Duration | None = Field(None, description="Entries expire this long after writing.")
    retention: Duration | None = Field(None, description="Data is deleted after this long.")
    redact: list[
        Literal["email", "phone", "credit_card", "iban", "ip_address", "secret"] | RedactPattern
    ] = Field(default_factory=list, description="Redact these before anything is written.")
    limits: MemoryLimits = Field(default_factory=MemoryLimits)
    access: MemoryAccess = Field(default_factory=MemoryAccess)
    context: SessionContext | None = Field(
        None, description="session stores: the history budget and what happens over it."
    )
    inject: int = Field(
        0,
        ge=0,
        le=50,
        description="long_term stores: put this many of the entries most relevant to the task"
        " into the model's context at the start.",
    )
    search: Literal["fulltext", "semantic", "hybrid"] = Field(
        "fulltext",
        description="How recall ranks: full-text (default), or with local embeddings (needs the"
        " 'embeddings' extra).",
    )
    description: str = ""


class AgentLimits(_Model):
    max_steps: PositiveInt | None = None
    max_tool_calls: PositiveInt | None = None
    max_tokens: PositiveInt | None = None
    max_cost_usd: float | None = Field(None, gt=0)
    timeout: Duration | None = None
    max_depth: PositiveInt | None = Field(
        None, description="Maximum delegation depth below this agent."
    )
    max_concurrent_tasks: PositiveInt | None = Field(
        None,
        le=1000,
        description="Tasks one replica works on at the same time (default 64); more wait in "
        "the agent's queue for a free slot.",
    )


class CircuitBreaker(_Model):
    max_identical_calls: PositiveInt = Field(
        3, description="Trip after this many identical tool calls in one task."
    )
    max_calls_per_minute: PositiveInt | None = None
    cooldown: Duration | None = None


class Skill(_Model):
    """A capability advertised on the agent's A2A card."""

    id: str
    name: str | None = None
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)


class Agent(_Model):
    """An agent: a model, instructions, and what it may use and whom it may delegate to."""

    description: str = ""
    model: Name
    instructions: str = Field("", description="Prompt; {{ }} is rendered at run time.")
    tools: list[Name] = Field(default_factory=list)
    memory: list[Name] = Field(default_factory=list)
    delegates: list[Name] = Field(default_factory=list)
    replicas: int = Field(1, ge=0, le=1000)
    limits: AgentLimits = Field(default_factory=AgentLimits)
    circuit_breaker: CircuitBreaker | None = None
    skills: list[Skill] = Field(default_factory=list)
    concurrent_messages: Literal["queue", "reject"] = Field(
        "queue",
        description="A message for a conversation that is still busy: wait for its turn, or be"
        " refused at once. Messages of one conversation are always handled one at a time, in"
        " the order they were accepted.",
    )


class Policy(_Model):
    """A rule for tool calls: allow, deny or require human approval, optionally conditional."""

    description: str = ""
    agents: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    tools: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    effect: Literal["allow", "deny", "require_approval"]
    when: str | None = Field(
        None, description="Sandboxed Jinja2 expression over the call, e.g. args.amount > 100."
    )
    approvers: list[Name] = Field(default_factory=list)
    approval_timeout: Duration | None = None


class Access(_Model):
    """Roles and what they may do (``invoke:AGENT``, ``approve:POLICY``, ``read:traces``...)."""

    roles: dict[Name, list[str]] = Field(default_factory=dict)
    members: dict[str, list[Name]] = Field(
        default_factory=dict, description="Subject (user, token name) to roles."
    )


class Schedule(_Model):
    """Send a task to an agent on a cron schedule or at a fixed interval."""

    agent: Name
    cron: str | None = None
    interval: Duration | None = None
    timezone: str = "UTC"
    input: str = ""
    enabled: bool = True


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
    access: dict[str, Any] | None = None
    schedules: dict[str, Any] | None = None


class Spec(_Model):
    """An agentform project: the desired state of an agent system."""

    version: Literal[1]
    project: Name
    description: str = ""
    include: list[str] = Field(
        default_factory=list, description="Other spec files (globs allowed), relative to this file."
    )
    variables: dict[Name, Variable] = Field(default_factory=dict)
    target: Target = Field(default_factory=Target)
    runtime: Runtime = Field(default_factory=Runtime)
    models: dict[Name, Model] = Field(default_factory=dict)
    tools: dict[Name, Tool] = Field(default_factory=dict)
    memory: dict[Name, Memory] = Field(default_factory=dict)
    agents: dict[Name, Agent] = Field(default_factory=dict)
    policies: dict[Name, Policy] = Field(default_factory=dict)
    access: Access = Field(default_factory=Access)
    schedules: dict[Name, Schedule] = Field(default_factory=dict)
    environments: dict[Name, EnvironmentOverlay] = Field(
        default_factory=dict, description="Overlays merged over this spec by --env NAME."
    )
