"""The resource values planning hands the runtime: one frozen, typed model per resource kind.

These classes are both the shape of a resource in the spec (:mod:`agentform.spec.models` re-exports
them, and ``schemas/agentform.schema.json`` is generated from them) and what crosses the process
boundary: planning dumps a resource with ``model_dump(mode="json")`` into a
:class:`~agentform.provider.ResourceValue`, and the runtime reads the same values back with the
``*Value`` classes of :mod:`agentform.contract.received`, which add what planning resolved for it
(an agent's ``policies`` and ``invokers``) and the planning-only fingerprints (``secrets``, a
tool's ``card``, the content of the ``files`` a model or tool points at). So every default is
written once, here, and a field the runtime reads is typed on both sides. The limits an agent and
the project declare live in :mod:`.limits`, content filters in :mod:`.filters`, the shared base in
:mod:`.base`; all are re-exported here. Pure: imports pydantic and :mod:`agentform.durations` only.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from agentform.contract.base import Frozen, Name, PositiveInt
from agentform.contract.filters import Detector, Filter, FilterPattern, FilterPlace, RedactPattern
from agentform.contract.limits import (
    AgentLimits,
    Budget,
    CircuitBreaker,
    ProjectLimits,
    Rate,
    RateLimit,
)
from agentform.durations import Duration

__all__ = [
    "DEFAULT_STORE_URL",
    "A2aAgent",
    "Access",
    "Agent",
    "AgentLimits",
    "Budget",
    "Bus",
    "CircuitBreaker",
    "Detector",
    "Filter",
    "FilterPattern",
    "FilterPlace",
    "Frozen",
    "McpServer",
    "Memory",
    "MemoryAccess",
    "MemoryLimits",
    "Model",
    "ModelLimits",
    "Name",
    "Policy",
    "PositiveInt",
    "Pricing",
    "ProjectLimits",
    "Rate",
    "RateLimit",
    "RedactPattern",
    "Schedule",
    "SessionContext",
    "Skill",
    "Store",
    "Tasks",
    "Tool",
]


class Bus(Frozen):
    url: str = Field(
        "embedded",
        description="'embedded' (a nats-server started by agentform) or nats://host:port",
    )
    stream_prefix: str = "agentform"


DEFAULT_STORE_URL = (
    "sqlite:///.agentform/runtime.db"  # the default environment's; others: runtime-ENV.db
)


class Store(Frozen):
    url: str = Field(
        DEFAULT_STORE_URL,
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://...",
    )


class Audit(Frozen):
    """``runtime.audit``: how long the audit log keeps its records."""

    retention: Duration | None = Field(
        None,
        description="Records older than this are deleted (a checkpoint keeps the chain"
        " verifiable); without it the log keeps everything.",
    )


class Tasks(Frozen):
    """``runtime.tasks``: how long the runtime keeps task records."""

    retention: Duration | None = Field(
        None,
        description="Tasks that ended longer ago than this are deleted, with their steps,"
        " approval requests and dead letters; without it tasks are kept.",
    )


class ModelLimits(Frozen):
    requests_per_minute: PositiveInt | None = None
    tokens_per_minute: PositiveInt | None = None
    max_concurrency: PositiveInt | None = None


class Pricing(Frozen):
    """Price in USD per million tokens, used for cost accounting and budgets."""

    input_per_mtok: float = Field(0.0, ge=0)
    output_per_mtok: float = Field(0.0, ge=0)


class Model(Frozen):
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


class McpServer(Frozen):
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


class A2aAgent(Frozen):
    """An agent outside the project, reached over A2A through its agent card."""

    url: str = Field(
        description="The agent card's URL, or the agent's base URL (the card is then read from "
        "/.well-known/agent-card.json)."
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Sent with every request; values may use ${secret.NAME}.",
    )


def _not(value: Any) -> bool:
    return not value


def _is_fail(value: Any) -> bool:
    return bool(value == "fail")


def _absent(value: Any) -> bool:
    return value is None


class Tool(Frozen):
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
    on_unknown_outcome: Literal["fail", "ask_human"] = Field(
        "fail",
        exclude_if=_is_fail,  # written only when it asks: tools keep the values they had
        description="An unsafe call interrupted by a crash has an unknown outcome. fail: the "
        "task fails (the call is not repeated); ask_human: the task waits until an operator "
        "who checked the tool's own system answers happened (with the result), retry (the "
        "same idempotency key) or fail ('agentform approvals resolve').",
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


class MemoryLimits(Frozen):
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


class MemoryAccess(Frozen):
    """Which agents may read and write a store (names or globs); default: every agent that
    lists the store. Denied requests are refused and recorded."""

    read: list[str] | None = None
    write: list[str] | None = None


class SessionContext(Frozen):
    """How much of a conversation's history goes into the model's context."""

    max_tokens: PositiveInt = Field(4000, description="Token budget for earlier turns.")
    strategy: Literal["drop_oldest", "summarize"] = Field(
        "drop_oldest",
        description="Turns over the budget are dropped whole (and the model told so), or"
        " summarised by the agent's model. A turn is never cut mid-message.",
    )


class Memory(Frozen):
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
    redact: list[Detector | RedactPattern] = Field(
        default_factory=list, description="Redact these before anything is written."
    )
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


class Skill(Frozen):
    """A capability advertised on the agent's A2A card."""

    id: str
    name: str | None = None
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)


class Agent(Frozen):
    """An agent: a model, instructions, and what it may use and whom it may delegate to."""

    description: str = ""
    model: Name
    instructions: str = Field("", description="Prompt; {{ }} is rendered at run time.")
    tools: list[Name] = Field(default_factory=list)
    memory: list[Name] = Field(default_factory=list)
    delegates: list[Name] = Field(default_factory=list)
    filters: list[Name] = Field(
        default_factory=list,
        exclude_if=_not,  # written only when listed: agents keep the values they had
        description="Content filters on the agent's input, answer, tool arguments and results.",
    )
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
    default_effect: Literal["allow", "deny"] | None = Field(
        None,
        exclude_if=_absent,
        description="What a tool call no policy applies to gets: allow, or deny (then only what"
        " an allow policy names may be called). Default: the project's default_effect.",
    )
    rate_limit: RateLimit | None = Field(
        None,
        exclude_if=_absent,
        description="Tasks per caller and in total (10/minute): the next one is refused with"
        " HTTP 429 and Retry-After until the window resets.",
    )
    ask_user: bool = Field(
        False,
        exclude_if=_not,  # written only when true: agents keep the values they had
        description="Offer the model an ask_user tool: it may end its turn with a question, and"
        " the task waits (input-required) until whoever sent it answers, with a message to the"
        " task over A2A or 'agentform tasks reply TASK TEXT'.",
    )


class Policy(Frozen):
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


class Access(Frozen):
    """Roles and what they may do (``invoke:AGENT``, ``approve:POLICY``, ``read:traces``...)."""

    roles: dict[Name, list[str]] = Field(default_factory=dict)
    members: dict[str, list[Name]] = Field(
        default_factory=dict, description="Subject (user, token name) to roles."
    )


class Schedule(Frozen):
    """Send a task to an agent on a cron schedule or at a fixed interval."""

    agent: Name
    cron: str | None = None
    interval: Duration | None = None
    timezone: str = "UTC"
    input: str = ""
    enabled: bool = True
    catch_up: Literal["none", "one", "all"] = Field(
        "one",
        description="Fires missed while no engine ran (or the schedule was paused): none are"
        " made up, one is, or all of them are.",
    )
