"""The scripted model: a deterministic, offline :class:`ChatModel` driven by a rule file.

It answers the way its :class:`~agentform.runtime.models.script.Script` says, so examples run
without a key and tests replay exactly: tool-call ids are ``call_<n>`` with ``n`` the number of
assistant turns so far (``call_<n>_<i>`` when a rule makes several calls), token usage is
estimated as a quarter of the characters, and ``delay`` and ``fail`` rules stand in for slow and
failing endpoints (fallback and timeout tests). Built by
:func:`agentform.runtime.models.build_model` for ``provider: scripted``; also the fake model of
the runtime's own tests.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from agentform.runtime.conversation import Message, ModelResponse, ToolCall, ToolSpec
from agentform.runtime.models.config import ModelConfig
from agentform.runtime.models.errors import PermanentModelError, TemporaryModelError
from agentform.runtime.models.script import Context, Rule, Script, load_script

__all__ = ["ScriptedModel", "estimate_tokens"]


class ScriptedModel:
    """Answers from ``script``; remembers only how often each ``fail`` rule has fired."""

    def __init__(self, name: str, script: Script) -> None:
        self.name = name
        self.script = script
        self._failures: dict[int, int] = {}

    @classmethod
    def from_config(cls, config: ModelConfig) -> ScriptedModel:
        if config.script is None:
            raise PermanentModelError(f"model {config.name!r}: a scripted model needs `script`")
        return cls(config.name, load_script(config.script))

    async def complete(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec]
    ) -> ModelResponse:
        started = time.perf_counter()
        rule, context = self._choose(messages)
        if rule.delay:
            await asyncio.sleep(rule.delay)
        if rule.fail is not None:
            self._failures[rule.number] = self._failures.get(rule.number, 0) + 1
            message = f"model {self.name!r} (scripted, rule {rule.number}): {rule.fail.message}"
            if rule.fail.kind == "temporary":
                raise TemporaryModelError(message, retry_after=rule.fail.retry_after)
            raise PermanentModelError(message)
        text = "" if rule.reply is None else self.script.render(rule, rule.reply, context)
        turn = sum(1 for m in messages if m.role == "assistant")
        calls = tuple(
            ToolCall(
                f"call_{turn}" if len(rule.calls) == 1 else f"call_{turn}_{i}",
                call.tool,
                self._arguments(rule, call.arguments, context),
            )
            for i, call in enumerate(rule.calls)
        )
        return ModelResponse(
            text=text,
            tool_calls=calls,
            input_tokens=estimate_tokens(*messages),
            output_tokens=estimate_tokens(Message("assistant", text, calls)),
            model=self.name,
            finish_reason="tool_calls" if calls else "stop",
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    async def aclose(self) -> None:
        return None

    def _choose(self, messages: Sequence[Message]) -> tuple[Rule, Context]:
        for rule, context in self.script.matches(messages):
            times = rule.fail.times if rule.fail is not None else None
            if times is not None and self._failures.get(rule.number, 0) >= times:
                continue  # failed as often as it should: let the next rule answer
            return rule, context
        raise PermanentModelError(
            f"model {self.name!r}: no rule in {self.script.source} matches the conversation; "
            "add a last rule without `match` as the default answer"
        )

    def _arguments(self, rule: Rule, value: Any, context: Context) -> Any:
        if isinstance(value, str):
            return self.script.render(rule, value, context)
        if isinstance(value, Mapping):
            return {k: self._arguments(rule, v, context) for k, v in value.items()}
        if isinstance(value, list):
            return [self._arguments(rule, v, context) for v in value]
        return value


def estimate_tokens(*messages: Message) -> int:
    """About a token per four characters of text and tool calls, and at least one."""
    size = 0
    for message in messages:
        size += len(message.content)
        for call in message.tool_calls:
            size += len(call.name) + len(json.dumps(call.arguments, default=str))
    return size // 4 + 1
