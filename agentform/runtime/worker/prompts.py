"""Runtime prompt templates: an agent's ``instructions`` rendered with a task's inputs.

The spec leaves ``{{ }}`` untouched at load time; here, for every task, the instructions are
rendered in the same hardened sandbox the spec uses (:mod:`agentform.expressions`). A variable
the task did not provide may be given a fallback with ``default(...)``; printed without one, it
is an error naming every missing variable, so an agent never talks to "{{ customer.name }}" or to
an empty name. Called by the agent loop (:mod:`agentform.runtime.worker.loop`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from agentform.expressions import (
    ChainableUndefined,
    SafeEnvironment,
    SecurityError,
    Template,
    TemplateError,
)

__all__ = ["PromptError", "render_instructions"]


class PromptError(Exception):
    """The instructions could not be rendered for this task; the message says what is missing."""


class _Missing(ChainableUndefined):
    """Chains through ``a.b.c`` so ``default()`` works; printing it records the name."""

    __slots__ = ()
    missing: list[str] | None = None

    def __str__(self) -> str:
        if _Missing.missing is not None:
            _Missing.missing.append(self._undefined_name or "?")
        return ""


@functools.cache
def _environment() -> SafeEnvironment:
    env = SafeEnvironment()
    env.undefined = _Missing
    return env


@functools.lru_cache(maxsize=64)
def _compiled(template: str) -> Template:
    # compiling is a thousand times dearer than rendering: an agent has one template
    return _environment().from_string(template)


def render_instructions(template: str, inputs: Mapping[str, Any]) -> str:
    """Render ``template`` with ``inputs``; raise :class:`PromptError` naming what is missing."""
    if "{{" not in template and "{%" not in template:
        return template
    try:
        compiled = _compiled(template)
    except TemplateError as exc:
        raise PromptError(f"the agent's instructions are not a valid template: {exc}") from exc
    _Missing.missing = []
    try:
        text = compiled.render(dict(inputs))
        missing = sorted(set(_Missing.missing))
    except SecurityError as exc:
        raise PromptError(f"the agent's instructions were refused by the sandbox: {exc}") from exc
    except (TemplateError, TypeError, ValueError) as exc:
        raise PromptError(f"the agent's instructions failed to render: {exc}") from exc
    finally:
        _Missing.missing = None
    if missing:
        names = ", ".join(missing)
        raise PromptError(
            f"the agent's instructions use {names}, which the task did not provide; send it"
            " as task input (agentform send ... --input NAME=VALUE) or give it a fallback with"
            " default(...) in the instructions"
        )
    return text
