"""What a memory store is configured to be, read from its resource values (``memory.NAME``).

:class:`StoreConfig` is the plain-values form of a spec ``memory`` entry as the engine and the
workers receive it (they never see the spec): the kind, how its scope key is found, expiry,
redaction, size caps and which agents may read or write it. :func:`scope_key` owns the scope-key
rules: the shape of a key (``customer:acme-42``) and where each scope takes its key from.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentform.durations import parse_duration

__all__ = [
    "KINDS",
    "InvalidScope",
    "StoreConfig",
    "TaskScope",
    "scope_key",
    "validate_scope",
]

KINDS = ("session", "long_term", "working", "shared")
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


def _seconds(value: Any) -> float | None:
    return parse_duration(str(value)).total_seconds() if value else None


@dataclass(frozen=True, slots=True)
class StoreConfig:
    name: str
    kind: str
    scope: str | None = None
    scope_from: str | None = None
    ttl: float | None = None  # seconds
    retention: float | None = None  # seconds
    redact: tuple[str | Mapping[str, Any], ...] = ()
    max_item_bytes: int = 65536
    max_scope_bytes: int | None = None
    max_scope_items: int | None = None
    on_full: str = "reject"
    read: tuple[str, ...] | None = None
    write: tuple[str, ...] | None = None
    max_history_tokens: int = 4000
    history_strategy: str = "drop_oldest"
    inject: int = 0
    search: str = "fulltext"
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_values(cls, name: str, values: Mapping[str, Any]) -> StoreConfig:
        kind = str(values.get("kind") or "")
        if kind not in KINDS:
            raise ValueError(f"memory.{name}: unknown kind {kind!r} (one of {', '.join(KINDS)})")
        limits = values.get("limits") or {}
        access = values.get("access") or {}
        context = values.get("context") or {}
        on_full = limits.get("on_full") or ("evict_oldest" if kind == "session" else "reject")
        read, write = access.get("read"), access.get("write")
        return cls(
            name=name,
            kind=kind,
            scope=values.get("scope"),
            scope_from=values.get("scope_from"),
            ttl=_seconds(values.get("ttl")),
            retention=_seconds(values.get("retention")),
            redact=tuple(values.get("redact") or ()),
            max_item_bytes=int(limits.get("max_item_bytes") or 65536),
            max_scope_bytes=limits.get("max_scope_bytes"),
            max_scope_items=limits.get("max_scope_items"),
            on_full=str(on_full),
            read=tuple(read) if read is not None else None,
            write=tuple(write) if write is not None else None,
            max_history_tokens=int(context.get("max_tokens") or 4000),
            history_strategy=str(context.get("strategy") or "drop_oldest"),
            inject=int(values.get("inject") or 0),
            search=str(values.get("search") or "fulltext"),
        )

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
