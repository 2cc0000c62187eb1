"""The one Jinja2 environment for everything a spec evaluates: interpolation, policy conditions
and prompt templates.

Specs are written by many people and validated in CI on pull requests, so an expression must not
be able to run code, read the machine, or exhaust it. Jinja's sandbox handles the first two (no
attribute escapes to ``__class__``); this module adds the third: no globals (``range``, ``lipsum``,
``cycler``... are gone), a whitelist of filters without width or padding arguments (``center``,
``indent``, ``wordwrap``, ``format`` are gone), ``*`` and ``**`` that refuse to build a value over
:data:`MAX_SIZE` items or digits, ``replace`` that refuses a result over that size, and no
``%`` string formatting. Used by the spec loader and checks, and by the runtime's prompt
rendering, tool locks and scripted models (and the policy decision point next), so the spec and
the runtime agree on what an expression means. The only importer of ``jinja2`` (an import-linter
contract says so): the sandbox's error and undefined types and the two questions asked of a parsed
template (:func:`undeclared_names`, :func:`filters_used`) are re-exported from here.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from typing import Any

from jinja2 import (
    ChainableUndefined,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    Undefined,
    UndefinedError,
    meta,
    nodes,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

__all__ = [
    "MAX_SIZE",
    "ChainableUndefined",
    "SafeEnvironment",
    "SecurityError",
    "Template",
    "TemplateError",
    "TemplateSyntaxError",
    "Undefined",
    "UndefinedError",
    "filters_used",
    "safe_environment",
    "undeclared_names",
]

MAX_SIZE = 1_000_000
_MAX_BITS = 4096
_FILTERS = frozenset({
    "abs", "batch", "capitalize", "count", "d", "default", "dictsort", "first", "float", "int",
    "items", "join", "last", "length", "list", "lower", "map", "max", "min", "reject",
    "rejectattr", "replace", "reverse", "round", "select", "selectattr", "slice", "sort",
    "string", "sum", "title", "tojson", "trim", "unique", "upper", "wordcount",
})  # fmt: skip


def _size(value: Any) -> int:
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, list | tuple):
        return sum(len(v) if isinstance(v, str | bytes) else 1 for v in value) or len(value)
    return 1


def _replace(original: Callable[..., Any]) -> Callable[..., Any]:
    def replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: int | None = None) -> Any:
        text, old_s, new_s = str(s), str(old), str(new)
        growth = text.count(old_s) * max(0, len(new_s) - len(old_s))
        if len(text) + growth > MAX_SIZE:
            raise SecurityError(f"replace would build a string over {MAX_SIZE:,} characters")
        return original(eval_ctx, s, old, new, count)

    replace.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return replace


class SafeEnvironment(SandboxedEnvironment):
    """A sandbox that also bounds the size of what an expression can build."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False)
        self.globals.clear()
        kept = {name: f for name, f in self.filters.items() if name in _FILTERS}
        kept["replace"] = _replace(kept["replace"])
        self.filters = kept
        self.tests = dict(self.tests)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str):
            raise SecurityError("'%' string formatting is not allowed; use ~ to join text")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sized = isinstance(seq, str | bytes | list | tuple) and isinstance(times, int)
                if sized and times > 0 and _size(seq) * times > MAX_SIZE:
                    raise SecurityError(f"'*' would build a value over {MAX_SIZE:,} items")
        if operator == "**" and isinstance(left, int | float) and isinstance(right, int | float):
            base = abs(left)
            if base > 1 and right > 0 and right * math.log2(base) > _MAX_BITS:
                raise SecurityError(f"'**' result is larger than {_MAX_BITS} bits")
        return super().call_binop(context, operator, left, right)


@functools.cache
def safe_environment() -> SafeEnvironment:
    """The shared environment (Jinja environments are expensive to build and safe to share)."""
    return SafeEnvironment()


def undeclared_names(ast: nodes.Template) -> set[str]:
    """The names a parsed template reads that it does not define itself."""
    return meta.find_undeclared_variables(ast)


def filters_used(ast: nodes.Template) -> Iterator[tuple[str, int]]:
    """Every filter a parsed template applies, with its line."""
    for node in ast.find_all(nodes.Filter):
        yield node.name, node.lineno
