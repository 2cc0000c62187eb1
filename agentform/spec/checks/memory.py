"""Checks that each memory store's settings fit its kind and can be enforced (AF218, AF201).

A session store keeps one conversation (scope ``conversation``), working memory lives with one
task (no scope), only long-term stores are searched, ranked or injected; custom redaction
patterns must compile and must not match the empty string (they would fire everywhere);
``scope_from`` names a task input only for ``user`` and ``customer`` scopes; ``access`` names
agents that exist.
"""

from __future__ import annotations

import fnmatch
import re

from agentform.names import did_you_mean
from agentform.spec.checks import CheckContext
from agentform.spec.models import Memory, RedactPattern
from agentform.spec.sourcemap import Path

__all__ = ["CHECKS"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _kind_settings(ctx: CheckContext, name: str, store: Memory, base: Path) -> None:
    kind = store.kind
    if kind == "session" and store.scope not in (None, "conversation"):
        ctx.error(
            "AF218",
            f"memory {name!r}: a session store keeps one conversation; scope {store.scope!r}"
            " does not apply",
            (*base, "scope"),
            hint="use scope: conversation (or leave it out), or kind: long_term for facts that"
            " outlive a conversation",
        )
    if kind == "working" and store.scope is not None:
        ctx.warning(
            "AF218",
            f"memory {name!r}: working memory lives with one task and is gone when it ends;"
            " scope has no effect",
            (*base, "scope"),
            hint="remove scope, or use kind: shared for notes that outlive the task",
        )
    if store.context is not None and kind != "session":
        ctx.error(
            "AF218",
            f"memory {name!r}: context (history budget) applies to session stores only",
            (*base, "context"),
            at_key=True,
        )
    if store.inject and kind != "long_term":
        ctx.error(
            "AF218",
            f"memory {name!r}: inject applies to long_term stores only",
            (*base, "inject"),
        )
    if store.search != "fulltext" and kind != "long_term":
        ctx.error(
            "AF218",
            f"memory {name!r}: search {store.search!r} applies to long_term stores only",
            (*base, "search"),
        )
    if store.scope_from is not None:
        if store.scope not in ("user", "customer"):
            ctx.error(
                "AF218",
                f"memory {name!r}: scope_from names the task input that holds the user or"
                f" customer; scope {store.scope!r} takes its key from elsewhere",
                (*base, "scope_from"),
            )
        elif not _IDENTIFIER.match(store.scope_from):
            ctx.error(
                "AF218",
                f"memory {name!r}: scope_from {store.scope_from!r} is not an input name",
                (*base, "scope_from"),
                hint="an input name such as customer_id",
            )


def _patterns(ctx: CheckContext, name: str, store: Memory, base: Path) -> None:
    for i, item in enumerate(store.redact):
        if not isinstance(item, RedactPattern):
            continue
        path = (*base, "redact", i, "pattern")
        try:
            compiled = re.compile(item.pattern)
        except re.error as exc:
            ctx.error(
                "AF218",
                f"memory {name!r}: redaction pattern {item.name!r} does not compile: {exc}",
                path,
                hint="a Python regular expression; escape literal characters such as . or (",
            )
            continue
        if compiled.search("") is not None:
            ctx.error(
                "AF218",
                f"memory {name!r}: redaction pattern {item.name!r} matches the empty string and"
                " would fire everywhere",
                path,
                hint="require at least one character, e.g. + instead of *",
            )


def _access(ctx: CheckContext, name: str, store: Memory, base: Path) -> None:
    agents = ctx.spec.agents
    for mode in ("read", "write"):
        names = getattr(store.access, mode) or []
        for i, who in enumerate(names):
            if any(c in who for c in "*?["):
                if not any(fnmatch.fnmatchcase(a, who) for a in agents):
                    ctx.warning(
                        "AF201",
                        f"memory {name!r}: access.{mode} pattern {who!r} matches no agent",
                        (*base, "access", mode, i),
                    )
            elif not ctx.exists("agent", who, agents):
                ctx.error(
                    "AF201",
                    f"memory {name!r}: access.{mode} refers to unknown agent {who!r}",
                    (*base, "access", mode, i),
                    hint=did_you_mean(who, agents, "agent") or "define it under 'agents:'",
                )


def check_memory(ctx: CheckContext) -> None:
    for name, store in ctx.spec.memory.items():
        base: Path = ("memory", name)
        _kind_settings(ctx, name, store, base)
        _patterns(ctx, name, store, base)
        _access(ctx, name, store, base)


CHECKS = [check_memory]
