"""The OpenAI-compatible adapter: chat completions with tool calling.

Speaks ``POST {base_url}/chat/completions`` (default ``https://api.openai.com/v1``), which OpenAI,
vLLM, Ollama, LiteLLM and most gateways accept. Owns the translation both ways:
:func:`request_body` turns messages and tool specs into the wire shape (assistant
``tool_calls`` with JSON-string arguments, ``tool`` messages with ``tool_call_id``) and
:func:`parse_response` turns an answer into a :class:`ModelResponse` or raises
:class:`PermanentModelError` ("malformed response from ...") for any other shape. Tool-call
arguments that are not a JSON object are a malformed answer too: the model broke the protocol,
so it is treated like an endpoint fault (the fallback chain may step in) rather than handed to
the tool. Without ``api_key`` no ``Authorization`` header is sent (local servers). Built by
:func:`agentform.runtime.models.build_model` for ``provider: openai``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import httpx2

from agentform.runtime.conversation import Message, ModelResponse, ToolCall, ToolSpec
from agentform.runtime.models.config import ModelConfig
from agentform.runtime.models.errors import PermanentModelError
from agentform.runtime.models.http import new_client, post_json

__all__ = ["DEFAULT_BASE_URL", "OpenAIModel", "parse_response", "request_body"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIModel:
    """A model behind an OpenAI-compatible endpoint."""

    def __init__(self, config: ModelConfig, client: httpx2.AsyncClient | None = None) -> None:
        self.name = config.name
        self.config = config
        self.url = (config.base_url or DEFAULT_BASE_URL).rstrip("/") + "/chat/completions"
        self._client = client

    async def complete(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec]
    ) -> ModelResponse:
        started = time.perf_counter()
        if self._client is None:
            self._client = new_client(self.config.timeout)
        headers = {"Authorization": f"Bearer {self.config.api_key}"} if self.config.api_key else {}
        data = await post_json(
            self._client,
            self.url,
            headers=headers,
            body=request_body(self.config, messages, tools),
            provider="openai",
        )
        response = parse_response(data, name=self.name, source=self.url)
        return _with_latency(response, started)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def request_body(
    config: ModelConfig, messages: Sequence[Message], tools: Sequence[ToolSpec]
) -> dict[str, Any]:
    """The JSON body of one chat-completions call."""
    body: dict[str, Any] = {"model": config.model, "messages": [_message(m) for m in messages]}
    if tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": dict(t.parameters),
                },
            }
            for t in tools
        ]
    if config.temperature is not None:
        body["temperature"] = config.temperature
    if config.max_tokens is not None:
        body["max_tokens"] = config.max_tokens
    return body


def _message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        content = f"Tool error: {message.content}" if message.is_error else message.content
        return {"role": "tool", "tool_call_id": message.tool_call_id or "", "content": content}
    data: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.role == "assistant" and message.tool_calls:
        data["content"] = message.content or None
        data["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(dict(call.arguments))},
            }
            for call in message.tool_calls
        ]
    if message.name is not None and message.role in ("system", "user"):
        data["name"] = message.name
    return data


def parse_response(data: Any, *, name: str, source: str) -> ModelResponse:
    """Read a chat-completions answer; anything unexpected is a PermanentModelError."""

    def bad(problem: str) -> PermanentModelError:
        return PermanentModelError(f"malformed response from openai at {source}: {problem}")

    choices = data.get("choices") if isinstance(data, Mapping) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise bad("expected a JSON object with a non-empty `choices` list")
    message = choices[0].get("message")
    if not isinstance(message, Mapping):
        raise bad("choices[0].message is missing")
    raw_calls = message.get("tool_calls")
    raw_calls = [] if raw_calls is None else raw_calls
    if not isinstance(raw_calls, list):
        raise bad("message.tool_calls is not a list")
    calls = tuple(_tool_call(i, raw, bad) for i, raw in enumerate(raw_calls))
    usage = data.get("usage")
    usage = {} if usage is None else usage
    if not isinstance(usage, Mapping):
        raise bad("`usage` is not an object")
    finish = choices[0].get("finish_reason")
    return ModelResponse(
        text=_text(message.get("content"), bad),
        tool_calls=calls,
        input_tokens=_count(usage.get("prompt_tokens"), "usage.prompt_tokens", bad),
        output_tokens=_count(usage.get("completion_tokens"), "usage.completion_tokens", bad),
        model=name,
        finish_reason=finish if isinstance(finish, str) else ("tool_calls" if calls else "stop"),
    )


def _text(content: Any, bad: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some servers answer with content parts
        parts = [p.get("text") for p in content if isinstance(p, Mapping)]
        return "".join(p for p in parts if isinstance(p, str))
    raise bad("message.content is neither text nor null")


def _tool_call(index: int, raw: Any, bad: Any) -> ToolCall:
    function = raw.get("function") if isinstance(raw, Mapping) else None
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
        raise bad(f"tool_calls[{index}] has no function name")
    name, arguments = function["name"], function.get("arguments")
    if arguments is None or arguments == "":
        arguments = {}
    elif isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError as error:
            raise bad(f"the arguments of tool call {name!r} are not valid JSON ({error})") from None
    if not isinstance(arguments, Mapping):
        raise bad(f"the arguments of tool call {name!r} are not a JSON object")
    call_id = raw.get("id")
    return ToolCall(
        call_id if isinstance(call_id, str) and call_id else f"call_{index}", name, dict(arguments)
    )


def _count(value: Any, what: str, bad: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise bad(f"{what} is not a whole number")
    return value


def _with_latency(response: ModelResponse, started: float) -> ModelResponse:
    return replace(response, latency_ms=(time.perf_counter() - started) * 1000)
