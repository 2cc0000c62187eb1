"""Checks that each content filter can be enforced as written (AF220).

A filter must detect something (built-in detectors or custom patterns); each custom pattern must
compile under RE2, the engine the runtime runs it with (linear in time: no look-around or
back-references, so no pattern can hang an agent), must not match the empty string (it would
fire everywhere), and needs a name of its own. Agents' references to filters are checked with
the other references (:mod:`.references`, AF201).
"""

from __future__ import annotations

import re

from agentform.patterns import PatternError, compile_pattern
from agentform.spec.checks import CheckContext
from agentform.spec.models import Filter
from agentform.spec.sourcemap import Path

__all__ = ["CHECKS"]

_BUILTIN = frozenset({"email", "phone", "credit_card", "iban", "ip_address", "secret"})
_PATTERN_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _patterns(ctx: CheckContext, name: str, content_filter: Filter, base: Path) -> None:
    seen: set[str] = set()
    for i, item in enumerate(content_filter.patterns):
        where: Path = (*base, "patterns", i)
        if not _PATTERN_NAME.fullmatch(item.name):
            ctx.error(
                "AF220",
                f"filter {name!r}: pattern name {item.name!r} is not a label",
                (*where, "name"),
                hint="letters, digits, '_', '-' or '.', at most 64: hits are counted under it",
            )
        elif item.name in _BUILTIN:
            ctx.error(
                "AF220",
                f"filter {name!r}: pattern {item.name!r} has the name of a built-in detector",
                (*where, "name"),
                hint=f"list the built-in one under detect: [{item.name}], or rename the pattern",
            )
        elif item.name in seen:
            ctx.error(
                "AF220", f"filter {name!r}: pattern {item.name!r} is listed twice", (*where, "name")
            )
        seen.add(item.name)
        try:
            compiled = compile_pattern(item.pattern)
        except PatternError as exc:
            ctx.error(
                "AF220",
                f"filter {name!r}: pattern {item.name!r} is not a valid RE2 expression: {exc}",
                (*where, "pattern"),
                hint="RE2 syntax (like Python's re without look-around or back-references);"
                " escape literal characters such as . or (",
            )
            continue
        if compiled.search("") is not None:
            ctx.error(
                "AF220",
                f"filter {name!r}: pattern {item.name!r} matches the empty string and would fire"
                " everywhere",
                (*where, "pattern"),
                hint="require at least one character, e.g. + instead of *",
            )


def check_filters(ctx: CheckContext) -> None:
    for name, content_filter in ctx.spec.filters.items():
        base: Path = ("filters", name)
        if not content_filter.detect and not content_filter.patterns:
            ctx.error(
                "AF220",
                f"filter {name!r} detects nothing",
                base,
                at_key=True,
                hint="list built-in detectors (detect: [email, credit_card, secret]) or custom"
                " patterns ({name, pattern})",
            )
        _patterns(ctx, name, content_filter, base)


CHECKS = [check_filters]
