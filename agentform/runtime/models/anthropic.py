"""The Anthropic adapter: the Messages API with tool use.

Speaks ``POST {base_url}/v1/messages`` (default ``https://api.anthropic.com``; a ``base_url``
already ending in ``/v1`` is accepted too) with ``x-api-key`` and ``anthropic-version:
2023-06-01``. Owns the translation both ways: :func:`request_body` lifts system messages into the
top-level ``system``, writes assistant tool calls as ``tool_use`` blocks and tool results as
``tool_result`` blocks, and merges consecutive turns of one role (the API wants user and
assistant to alternate, so parallel tool results become one user turn) and drops empty turns
(it refuses empty text blocks); ``max_tokens`` is
required by the API and defaults to :data:`DEFAULT_MAX_TOKENS`. :func:`parse_response` reads
``content`` blocks and maps ``stop_reason`` onto the neutral ``finish_reason`` (``end_turn`` →
``stop``, ``tool_use`` → ``tool_calls``, ``max_tokens`` → ``length``). Built by
:func:`agentform.runtime.models.build_model` for ``provider: anthropic``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import httpx2

from agentform.runtime.conversation import Message, ModelResponse, ToolCall, ToolSpec
from agentform.runtime.models.config import ModelConfig
from agentform.runtime.models.errors import PermanentModelError
from agentform.runtime.models.http import new_client, post_json

__all__ = ["API_VERSION", "DEFAULT_BASE_URL", "DEFAULT_MAX_TOKENS", "AnthropicModel",
           "parse_response", "request_body"]  # fmt: skip

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "tool_use": "tool_calls",
           "max_tokens": "length"}  # fmt: skip


class AnthropicModel:
    """A model behind the Anthropic Messages API."""

    def __init__(self, config: ModelConfig, client: httpx2.AsyncClient | None = None) -> None:
        self.name = config.name
        self.config = config
        base = (config.base_url or DEFAULT_BASE_URL).rstrip("/")
        self.url = base + ("/messages" if base.endswith("/v1") else "/v1/messages")
        self._client = client

    async def complete(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec]
    ) -> ModelResponse:
        started = time.perf_counter()
        if self._client is None:
            self._client = new_client(self.config.timeout)
        headers = {"anthropic-version": API_VERSION}
        if self.config.api_key:
            headers["x-api-key"] = self.config.api_key
        data = await post_json(
            self._client,
            self.url,
            headers=headers,
            body=request_body(self.config, messages, tools),
            provider="anthropic",
        )
        response = parse_response(data, name=self.name, source=self.url)
        return replace(response, latency_ms=(time.perf_counter() - started) * 1000)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def request_body(
    config: ModelConfig, messages: Sequence[Message], tools: Sequence[ToolSpec]
) -> dict[str, Any]:
    """The JSON body of one Messages call."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if not blocks:
            continue  # the API refuses empty text blocks; an empty turn says nothing anyway
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    body: dict[str, Any] = {
        "model": config.model,
        "max_tokens": config.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": turns,
    }
    if system:
        body["system"] = system
    if tools:
        body["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": dict(t.parameters)}
            for t in tools
        ]
    if config.temperature is not None:
        body["temperature"] = config.temperature
    return body


def _blocks(message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": message.tool_call_id or "",
            "content": message.content,
        }
        if message.is_error:
            block["is_error"] = True
        return [block]
    blocks: list[dict[str, Any]] = []
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    blocks.extend(
        {"type": "tool_use", "id": c.id, "name": c.name, "input": dict(c.arguments)}
        for c in message.tool_calls
    )
    return blocks


def parse_response(data: Any, *, name: str, source: str) -> ModelResponse:
    """Read a Messages answer; anything unexpected is a PermanentModelError."""

    def bad(problem: str) -> PermanentModelError:
        return PermanentModelError(f"malformed response from anthropic at {source}: {problem}")

    content = data.get("content") if isinstance(data, Mapping) else None
    if not isinstance(content, list):
        raise bad("expected a JSON object with a `content` list")
    texts: list[str] = []
    calls: list[ToolCall] = []
    for index, block in enumerate(content):
        kind = block.get("type") if isinstance(block, Mapping) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use":
            call_id, tool, arguments = block.get("id"), block.get("name"), block.get("input", {})
            if not isinstance(call_id, str) or not isinstance(tool, str):
                raise bad(f"content[{index}] is a tool_use block without id or name")
            if not isinstance(arguments, Mapping):
                raise bad(f"the input of tool call {tool!r} is not a JSON object")
            calls.append(ToolCall(call_id, tool, dict(arguments)))
        elif not isinstance(kind, str):
            raise bad(f"content[{index}] is not a content block")
        # other block kinds (thinking, ...) carry nothing the conversation keeps
    usage = data.get("usage")
    usage = {} if usage is None else usage
    if not isinstance(usage, Mapping):
        raise bad("`usage` is not an object")
    stop = data.get("stop_reason")
    return ModelResponse(
        text="".join(texts),
        tool_calls=tuple(calls),
        input_tokens=_count(usage.get("input_tokens"), "usage.input_tokens", bad),
        output_tokens=_count(usage.get("output_tokens"), "usage.output_tokens", bad),
        model=name,
        finish_reason=_FINISH.get(stop, stop) if isinstance(stop, str) else "stop",
    )


def _count(value: Any, what: str, bad: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise bad(f"{what} is not a whole number")
    return value
