"""What a memory store is configured to be, read from its contract value (``memory.NAME``).

:class:`StoreConfig` is a spec ``memory`` entry as the memory service uses it, from the contract
value the engine and the workers receive (they never see the spec): the kind, how its scope key is
found, expiry, redaction, size caps and which agents may read or write it. :func:`scope_key` owns
the scope-key rules: the shape of a key (``customer:acme-42``) and where each scope takes its key
from.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args

from agentform.contract import ContractError, MemoryValue, received
from agentform.contract.values import Memory, SessionContext

__all__ = [
    "KINDS",
    "InvalidScope",
    "StoreConfig",
    "TaskScope",
    "scope_key",
    "validate_scope",
]

KINDS: tuple[str, ...] = get_args(Memory.model_fields["kind"].annotation)
_SCOPE = re.compile(r"^(global|(conversation|user|customer|agent|task):[^\x00-\x20\x7f]{1,200})$")
DEFAULT_INPUT = {"customer": "customer_id", "user": "user_id"}


class InvalidScope(ValueError):
    """A scope key that is missing, malformed or too long; the message says which and how."""


def validate_scope(scope: str) -> str:
    if not _SCOPE.match(scope):
        raise InvalidScope(
            f"invalid scope key {scope[:80]!r}: use 'global' or KIND:KEY with KIND one of"
            " conversation, user, customer, agent, task and a KEY of 1 to 200 visible characters"
        )
    return scope


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """A memory store's settings as the memory service uses them (durations in seconds); built
    only from the contract's :class:`~agentform.contract.MemoryValue`, whose defaults are the
    spec's, so none is written here."""

    name: str
    kind: str
    scope: str | None
    scope_from: str | None
    ttl: float | None  # seconds
    retention: float | None  # seconds
    redact: tuple[str | Mapping[str, Any], ...]
    max_item_bytes: int
    max_scope_bytes: int | None
    max_scope_items: int | None
    on_full: str
    read: tuple[str, ...] | None
    write: tuple[str, ...] | None
    max_history_tokens: int
    history_strategy: str
    inject: int
    search: str

    @classmethod
    def of(cls, name: str, value: Memory) -> StoreConfig:
        """Store ``name``'s settings from its contract value (the spec's defaults included)."""
        limits, access = value.limits, value.access
        context = value.context or SessionContext()
        on_full = limits.on_full or ("evict_oldest" if value.kind == "session" else "reject")
        return cls(
            name=name,
            kind=value.kind,
            scope=value.scope,
            scope_from=value.scope_from,
            ttl=value.ttl.total_seconds() if value.ttl else None,
            retention=value.retention.total_seconds() if value.retention else None,
            redact=tuple(
                r if isinstance(r, str) else r.model_dump(exclude_none=True) for r in value.redact
            ),
            max_item_bytes=limits.max_item_bytes,
            max_scope_bytes=limits.max_scope_bytes,
            max_scope_items=limits.max_scope_items,
            on_full=on_full,
            read=tuple(access.read) if access.read is not None else None,
            write=tuple(access.write) if access.write is not None else None,
            max_history_tokens=context.max_tokens,
            history_strategy=context.strategy,
            inject=value.inject,
            search=value.search,
        )

    @classmethod
    def from_values(cls, name: str, values: Mapping[str, Any]) -> StoreConfig:
        """Store ``name``'s settings from JSON values, checked against the contract (ValueError
        naming the field that is wrong)."""
        try:
            value = received(f"memory.{name}", values)
        except ContractError as exc:
            raise ValueError(str(exc)) from None
        assert isinstance(value, MemoryValue)
        return cls.of(name, value)

    def allows(self, agent: str | None, mode: str) -> bool:
        """May ``agent`` read or write this store? ``None`` is the operator (the CLI)."""
        if agent is None:
            return True
        patterns: Sequence[str] | None = self.read if mode == "read" else self.write
        if patterns is None:
            return True
        if mode == "read" and self.write is not None and _matches(agent, self.write):
            return True  # who may write may read what it wrote
        return _matches(agent, patterns)


def _matches(agent: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(agent, p) for p in patterns)


@dataclass(frozen=True, slots=True)
class TaskScope:
    """What a task says about who it is for: the scope keys its memory requests use."""

    agent: str
    task_id: str
    context_id: str
    inputs: Mapping[str, Any] = field(default_factory=dict)


def scope_key(config: StoreConfig, task: TaskScope) -> str:
    """The scope key of ``task``'s requests to ``config``'s store, or :class:`InvalidScope`."""
    if config.kind == "working":
        return validate_scope(f"task:{task.task_id}")
    if config.kind == "session":
        return validate_scope(f"conversation:{task.context_id}")
    scope = config.scope or "global"
    if scope == "global":
        return "global"
    if scope == "agent":
        return validate_scope(f"agent:{task.agent}")
    if scope == "conversation":
        return validate_scope(f"conversation:{task.context_id}")
    source = config.scope_from or DEFAULT_INPUT[scope]
    value = task.inputs.get(source)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidScope(
            f"memory {config.name!r} is kept per {scope}, and this task has no {source!r} input"
            f" to say which {scope}; send the task with --input {source}=..."
        )
    if not isinstance(value, str | int):
        raise InvalidScope(f"the {source!r} input must be a string or a number to be a {scope} key")
    return validate_scope(f"{scope}:{str(value).strip()}")
