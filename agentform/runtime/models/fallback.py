"""The fallback chain: when a model cannot answer, the next one in its ``fallback`` list does.

Owns :class:`FallbackModel` and :func:`fallback_chain`. The chain is the named model followed by
its fallbacks, depth first (a fallback's own fallbacks come right after it), each name once: a
visited set stops ``a -> b -> a`` loops. A model hands over when it still fails after its own
retries with a :class:`TemporaryModelError`, or with a :class:`PermanentModelError` about the
endpoint (bad key, unknown model, malformed answers, a script without a matching rule); a
permanent error about the request (``request_fault``: 400, 413, 422) is raised at once, since
the next model would be sent the same conversation. The answer's ``model`` names the model that
really answered and ``latency_ms`` covers the whole chain, retries and waits included. Built by
:func:`agentform.runtime.models.build_model`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from agentform.runtime.conversation import Message, ModelResponse, ToolSpec
from agentform.runtime.models.chat import ChatModel
from agentform.runtime.models.errors import ModelError, PermanentModelError, TemporaryModelError

__all__ = ["FallbackModel", "fallback_chain"]

log = logging.getLogger(__name__)


class FallbackModel:
    """Tries ``chain`` in order; ``name`` is the first model's, the one the spec asked for."""

    def __init__(self, chain: Sequence[ChatModel]) -> None:
        if not chain:
            raise ValueError("a fallback chain needs at least one model")
        self.name = chain[0].name
        self.chain = tuple(chain)

    async def complete(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec]
    ) -> ModelResponse:
        started = time.perf_counter()
        failures: list[tuple[str, ModelError]] = []
        for model in self.chain:
            try:
                response = await model.complete(messages, tools)
            except PermanentModelError as error:
                if error.request_fault:
                    raise
                failures.append((model.name, error))
            except TemporaryModelError as error:
                failures.append((model.name, error))
            else:
                if failures:
                    log.warning("model %s answered for %s", model.name, self.name)
                latency = (time.perf_counter() - started) * 1000
                return replace(response, model=model.name, latency_ms=latency)
            if model is not self.chain[-1]:
                log.warning("model %s failed (%s); falling back", model.name, failures[-1][1])
        raise _combined(failures)

    async def aclose(self) -> None:
        for model in self.chain:
            await model.aclose()


def fallback_chain(
    name: str,
    fallbacks: Callable[[str], Sequence[str]],
    models: Mapping[str, Any],
) -> tuple[str, ...]:
    """``name`` then its fallbacks depth first, each once; unknown names raise."""
    if name not in models:
        raise PermanentModelError(
            f"model {name!r} is not defined; the spec's models are: {', '.join(sorted(models))}"
        )
    order: list[str] = []
    stack: list[str] = [name]
    while stack:
        current = stack.pop()
        if current in order:
            continue  # visited: a loop or a shared fallback, tried once
        order.append(current)
        children = list(fallbacks(current))
        for child in children:
            if child not in models:
                raise PermanentModelError(
                    f"model {current!r} falls back to {child!r}, which is not defined; "
                    "fix its `fallback` list"
                )
        stack.extend(reversed(children))
    return tuple(order)


def _combined(failures: list[tuple[str, ModelError]]) -> ModelError:
    if len(failures) == 1:
        return failures[0][1]
    summary = "; ".join(f"{name}: {error}" for name, error in failures)
    text = f"model {failures[0][0]!r} and its fallbacks all failed ({summary})"
    waits = [e.retry_after for _, e in failures if isinstance(e, TemporaryModelError)]
    if waits:
        known = [w for w in waits if w is not None]
        return TemporaryModelError(text, retry_after=min(known) if known else None)
    return PermanentModelError(text)
