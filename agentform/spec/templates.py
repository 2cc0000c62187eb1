"""Runtime prompt templates (Jinja2 ``{{ }}`` / ``{% %}`` in instructions): do they parse?

The runtime renders instructions per task; a syntax error there would fail every task of the
agent, so validate reports it up front. Parsing is the expensive part of validating a large
fleet (10,000 agents with distinct prompts), so the check parses the template's *skeleton*,
its tags without the text between them, and caches by skeleton: agents' prompts differ in prose
far more often than in tags. Text between tags cannot hold a syntax error, except a stray
opening delimiter, which sends the template to a full parse; so does ``{% raw %}``, and so does
every skeleton that fails, so that the error reported is the full template's, with its line.
Called by the spec checks.
"""

from __future__ import annotations

import functools
import re

__all__ = ["template_problem"]

_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_OPENERS = ("{{", "{%", "{#")


@functools.lru_cache(maxsize=16384)
def _parse_problem(text: str) -> str | None:
    from agentform.expressions import TemplateSyntaxError, filters_used, safe_environment

    env = safe_environment()
    try:
        ast = env.parse(text)
    except TemplateSyntaxError as exc:
        return f"line {exc.lineno}: {exc.message}"
    except RecursionError:  # jinja's parser recurses once per nesting level
        return "it is nested too deeply"
    for name, line in filters_used(ast):
        if name not in env.filters:
            return f"line {line}: unknown filter {name!r}"
    return None


def template_problem(text: str) -> str | None:
    """``None`` if ``text`` is a valid Jinja2 template, else what is wrong and on which line."""
    if "{" not in text:
        return None
    tags = _TAG.findall(text)
    rest = _TAG.sub("", text)
    if any(o in rest for o in _OPENERS) or any("raw" in t for t in tags if t[1] == "%"):
        return _parse_problem(text)
    if _parse_problem("\n".join(tags)) is None:
        return None
    return _parse_problem(text)
