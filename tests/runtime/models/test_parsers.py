"""Response parsers and header parsing: tables of answers, then fuzzing with random JSON."""

from __future__ import annotations

import email.utils
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentform.runtime.conversation import Message, ModelResponse, ToolCall
from agentform.runtime.models import PermanentModelError, anthropic, openai
from agentform.runtime.models.config import ModelConfig
from agentform.runtime.models.http import MAX_RETRY_AFTER, retry_after

Parser = Callable[..., ModelResponse]
PARSERS: dict[str, Parser] = {
    "openai": openai.parse_response,
    "anthropic": anthropic.parse_response,
}


def parse(provider: str, data: Any) -> ModelResponse:
    return PARSERS[provider](data, name="m", source="http://test")


def openai_call(arguments: Any, **extra: Any) -> dict[str, Any]:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    message = {"role": "assistant", "content": None, "tool_calls": [{**call, **extra}]}
    return {"choices": [{"message": message, "finish_reason": "tool_calls"}]}


@pytest.mark.parametrize(
    ("data", "text", "calls", "finish"),
    [
        ({"choices": [{"message": {"content": "hi"}}]}, "hi", (), "stop"),
        (
            {"choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"text": "b"}]}}]},
            "ab", (), "stop",
        ),
        (openai_call('{"x": 1}'), "", (ToolCall("c1", "f", {"x": 1}),), "tool_calls"),
        (openai_call(""), "", (ToolCall("c1", "f", {}),), "tool_calls"),
        (openai_call({"x": 2}), "", (ToolCall("c1", "f", {"x": 2}),), "tool_calls"),
        (openai_call("{}", id=None), "", (ToolCall("call_0", "f", {}),), "tool_calls"),
        (
            {"choices": [{"message": {"content": "cut"}, "finish_reason": "length"}]},
            "cut", (), "length",
        ),
    ],
    ids=["text", "content-parts", "tool-call", "empty-arguments", "object-arguments",
         "no-call-id", "length"],
)  # fmt: skip
def test_openai_answers(data: Any, text: str, calls: tuple[ToolCall, ...], finish: str) -> None:
    response = parse("openai", data)
    assert (response.text, response.tool_calls, response.finish_reason) == (text, calls, finish)
    assert response.model == "m"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({}, "non-empty `choices`"),
        ({"choices": []}, "non-empty `choices`"),
        ({"choices": [{}]}, "choices[0].message is missing"),
        ({"choices": [{"message": {"content": 3}}]}, "neither text nor null"),
        ({"choices": [{"message": {"tool_calls": {}}}]}, "tool_calls is not a list"),
        (openai_call("{not json"), "arguments of tool call 'f' are not valid JSON"),
        (openai_call("[1, 2]"), "arguments of tool call 'f' are not a JSON object"),
        ({"choices": [{"message": {"tool_calls": [{"function": {}}]}}]}, "has no function name"),
        ({"choices": [{"message": {}}], "usage": []}, "`usage` is not an object"),
        ({"choices": [{"message": {}}], "usage": {"prompt_tokens": -1}}, "prompt_tokens"),
    ],
    ids=["no-choices", "empty-choices", "no-message", "content-number", "calls-mapping",
         "bad-json-arguments", "list-arguments", "no-name", "usage-list", "negative-usage"],
)  # fmt: skip
def test_openai_malformed(data: Any, problem: str) -> None:
    with pytest.raises(PermanentModelError, match="malformed response from openai") as caught:
        parse("openai", data)
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("data", "text", "calls", "finish"),
    [
        ({"content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn"}, "hi", (),
         "stop"),
        (
            {"content": [{"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}],
             "stop_reason": "tool_use"},
            "", (ToolCall("t", "f", {"a": 1}),), "tool_calls",
        ),
        ({"content": [{"type": "thinking", "thinking": "hm"}, {"type": "text", "text": "x"}]},
         "x", (), "stop"),
        ({"content": [], "stop_reason": "max_tokens"}, "", (), "length"),
        ({"content": [], "stop_reason": "pause_turn"}, "", (), "pause_turn"),
    ],
    ids=["text", "tool-use", "thinking-ignored", "max-tokens", "unknown-stop"],
)  # fmt: skip
def test_anthropic_answers(data: Any, text: str, calls: tuple[ToolCall, ...], finish: str) -> None:
    response = parse("anthropic", data)
    assert (response.text, response.tool_calls, response.finish_reason) == (text, calls, finish)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({}, "a `content` list"),
        ({"content": "hi"}, "a `content` list"),
        ({"content": [3]}, "content[0] is not a content block"),
        ({"content": [{"type": "tool_use", "name": "f"}]}, "without id or name"),
        ({"content": [{"type": "tool_use", "id": "t", "name": "f", "input": [1]}]},
         "input of tool call 'f' is not a JSON object"),
        ({"content": [], "usage": {"output_tokens": "many"}}, "usage.output_tokens"),
    ],
    ids=["no-content", "content-text", "block-number", "tool-use-no-id", "input-list",
         "usage-text"],
)  # fmt: skip
def test_anthropic_malformed(data: Any, problem: str) -> None:
    with pytest.raises(PermanentModelError, match="malformed response from anthropic") as caught:
        parse("anthropic", data)
    assert problem in str(caught.value)


# -- Retry-After ---------------------------------------------------------------------------------

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"Retry-After": "-4"}, 0.0),
        ({"Retry-After": "86400"}, MAX_RETRY_AFTER),
        ({"Retry-After": email.utils.formatdate(NOW + 7, usegmt=True)}, 7.0),
        ({"Retry-After": email.utils.formatdate(NOW - 7, usegmt=True)}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "nan"}, None),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),
    ],
    ids=["none", "seconds", "fraction", "negative", "capped", "http-date", "date-past",
         "garbage", "nan", "milliseconds"],
)  # fmt: skip
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(headers, now=NOW) == expected


@given(st.text(max_size=40))
def test_fuzz_retry_after(value: str) -> None:
    seconds = retry_after({"Retry-After": value})
    assert seconds is None or 0 <= seconds <= MAX_RETRY_AFTER


# -- fuzzing: any JSON gives a ModelResponse or a PermanentModelError ----------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=15,
)
OPENAI_LIKE = st.fixed_dictionaries(
    {
        "choices": st.lists(
            st.fixed_dictionaries(
                {
                    "message": st.fixed_dictionaries(
                        {},
                        optional={
                            "content": JSON,
                            "tool_calls": st.lists(
                                st.fixed_dictionaries(
                                    {},
                                    optional={
                                        "id": JSON,
                                        "function": st.fixed_dictionaries(
                                            {},
                                            optional={
                                                "name": st.text(max_size=5) | JSON,
                                                "arguments": JSON.map(json.dumps) | JSON,
                                            },
                                        ),
                                    },
                                )
                                | JSON,
                                max_size=2,
                            ),
                        },
                    )
                    | JSON,
                },
                optional={"finish_reason": JSON},
            ),
            max_size=2,
        )
    },
    optional={"usage": st.fixed_dictionaries({}, optional={"prompt_tokens": JSON}) | JSON},
)
ANTHROPIC_LIKE = st.fixed_dictionaries(
    {
        "content": st.lists(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["text", "tool_use", "other"]) | JSON},
                optional={"text": JSON, "id": JSON, "name": JSON, "input": JSON},
            )
            | JSON,
            max_size=3,
        )
    },
    optional={
        "stop_reason": JSON,
        "usage": st.fixed_dictionaries({}, optional={"input_tokens": JSON}) | JSON,
    },
)


@settings(max_examples=400)
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@given(data=JSON | OPENAI_LIKE | ANTHROPIC_LIKE)
def test_fuzz_parsers(provider: str, data: Any) -> None:
    try:
        response = parse(provider, data)
    except PermanentModelError as error:
        assert "malformed response" in str(error)
        return
    assert isinstance(response, ModelResponse)
    assert all(isinstance(call.arguments, dict) for call in response.tool_calls)
    json.dumps(response.to_dict())  # what the store records must be JSON


@pytest.mark.parametrize(
    ("messages", "turns"),
    [
        ([("user", "a"), ("user", "b")], [("user", ["a", "b"])]),
        ([("user", "a"), ("assistant", ""), ("user", "b")], [("user", ["a", "b"])]),
        ([("user", "a"), ("assistant", "x"), ("tool", "r")], [("user", ["a"]),
          ("assistant", ["x"]), ("user", ["r"])]),
    ],
    ids=["merged", "empty-assistant-dropped", "alternating"],
)  # fmt: skip
def test_anthropic_turns(
    messages: list[tuple[str, str]], turns: list[tuple[str, list[str]]]
) -> None:
    conversation = [Message(role, text) for role, text in messages]  # type: ignore[arg-type]
    body = anthropic.request_body(ModelConfig("m", "anthropic", "c"), conversation, [])
    got = [
        (t["role"], [b.get("text", b.get("content")) for b in t["content"]])
        for t in body["messages"]
    ]
    assert got == turns
