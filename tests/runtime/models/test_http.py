"""The OpenAI and Anthropic adapters against a real HTTP server on 127.0.0.1.

The server is ``http.server`` in a thread: it records every request and answers from a plan of
(status, headers, body, delay) the test sets, so retries, ``Retry-After``, timeouts, fallbacks
and malformed answers go over a real socket, through ``httpx2``, as in production.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agentform.runtime.conversation import Message, ModelResponse, ToolCall, ToolSpec
from agentform.runtime.models import (
    ModelError,
    PermanentModelError,
    TemporaryModelError,
    build_model,
)

PROVIDERS = ["openai", "anthropic"]


@dataclass
class Planned:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any
    at: float


class FakeServer:
    """Answers POSTs from ``plan`` in order; the last planned answer repeats."""

    def __init__(self) -> None:
        self.plan: list[Planned] = []
        self.requests: list[Recorded] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(size)
                server.requests.append(
                    Recorded(self.path, dict(self.headers), json.loads(raw), time.monotonic())
                )
                answer = server.plan.pop(0) if len(server.plan) > 1 else server.plan[0]
                time.sleep(answer.delay)
                data = answer.body
                payload = data if isinstance(data, bytes) else json.dumps(data).encode()
                try:
                    self.send_response(answer.status)
                    for key, value in answer.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (timeout tests)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as running:
        yield running


def text_answer(provider: str, text: str) -> dict[str, Any]:
    if provider == "openai":
        return {
            "choices": [
                {"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 11, "completion_tokens": 3},
        }
    return {
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 11, "output_tokens": 3},
    }


def tool_answer(provider: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    if provider == "openai":
        call = {
            "id": "c1",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)},
        }
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        return {"choices": [{"message": message, "finish_reason": "tool_calls"}]}
    return {
        "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "c1", "name": name, "input": arguments},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 20, "output_tokens": 9},
    }


def error_answer(provider: str, message: str) -> dict[str, Any]:
    if provider == "openai":
        return {"error": {"message": message, "type": "invalid_request_error"}}
    return {"type": "error", "error": {"type": "authentication_error", "message": message}}


def build(provider: str, server_url: str, tmp_path: Path, **values: Any) -> Any:  # a ChatModel
    (tmp_path / "backup.yaml").write_text("rules: [{reply: backup answer}]")
    base_url = server_url + ("/v1" if provider == "openai" else "")
    models = {
        "main": {
            "provider": provider,
            "model": "test-model",
            "base_url": base_url,
            "api_key": "${secret.TEST_KEY}",
            "timeout": "2s",
            **values,
        },
        "backup": {"provider": "scripted", "script": "backup.yaml"},
    }
    return build_model("main", models, base_dir=tmp_path, secret={"TEST_KEY": "sk-test"}.get)


def ask(model: Any, messages: list[Message] | None = None) -> ModelResponse:
    async def run() -> ModelResponse:
        try:
            result: ModelResponse = await model.complete(
                messages or [Message("user", "hi")], [ToolSpec("lookup", "Look up")]
            )
            return result
        finally:
            await model.aclose()

    return asyncio.run(run())


# -- scenarios: what the server answers, what the caller gets -------------------------------------


def scenario_text(p: str) -> list[Planned]:
    return [Planned(body=text_answer(p, "hello"))]


def scenario_tool(p: str) -> list[Planned]:
    return [Planned(body=tool_answer(p, "lookup", {"q": "x"}))]


def scenario_429(p: str) -> list[Planned]:
    return [
        Planned(429, error_answer(p, "slow down"), {"Retry-After": "1"}),
        Planned(body=text_answer(p, "hello")),
    ]


def scenario_500(p: str) -> list[Planned]:
    return [Planned(500, b"oops"), Planned(body=text_answer(p, "hello"))]


def scenario_529(p: str) -> list[Planned]:
    return [Planned(529, error_answer(p, "overloaded"), {"Retry-After": "0"}),
            Planned(body=text_answer(p, "hello"))]  # fmt: skip


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("scenario", "requests", "text", "calls", "min_seconds"),
    [
        (scenario_text, 1, "hello", [], 0.0),
        (scenario_tool, 1, None, [ToolCall("c1", "lookup", {"q": "x"})], 0.0),
        (scenario_429, 2, "hello", [], 1.0),
        (scenario_500, 2, "hello", [], 0.0),
        (scenario_529, 2, "hello", [], 0.0),
    ],
    ids=["text", "tool-call", "429-retry-after", "500-then-ok", "529-then-ok"],
)
def test_answers(
    server: FakeServer,
    tmp_path: Path,
    provider: str,
    scenario: Any,
    requests: int,
    text: str | None,
    calls: list[ToolCall],
    min_seconds: float,
) -> None:
    server.plan = scenario(provider)
    response = ask(build(provider, server.url, tmp_path, fallback=["backup"]))
    assert len(server.requests) == requests
    if requests == 2:
        assert server.requests[1].at - server.requests[0].at >= min_seconds
    if text is not None:
        assert response.text == text
    assert list(response.tool_calls) == calls
    assert response.finish_reason == ("tool_calls" if calls else "stop")
    assert response.model == "main"
    assert response.input_tokens == (11 if text else 20 if provider == "anthropic" else 0)
    assert response.latency_ms >= min_seconds * 1000


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("planned", "error", "message", "requests"),
    [
        (Planned(200, b"<html>not json</html>"), PermanentModelError, "malformed response", 1),
        (Planned(200, {"answer": 42}), PermanentModelError, "malformed response", 1),
        (Planned(200, [1, 2]), PermanentModelError, "malformed response", 1),
        (Planned(401, None), PermanentModelError, "refused the request with 401: bad key", 1),
        (Planned(404, b"no such route"), PermanentModelError, "404: no such route", 1),
        (Planned(400, None), PermanentModelError, "refused the request with 400", 1),
        (Planned(503, b"down"), TemporaryModelError, "gave up after 2 attempts", 2),
        (Planned(200, None, delay=1.0), TemporaryModelError, "within 0.3s.*after 2 attempts", 2),
    ],
    ids=["not-json", "wrong-shape", "list-body", "401", "404", "400", "503-exhausted", "timeout"],
)
def test_failures_without_fallback(
    server: FakeServer,
    tmp_path: Path,
    provider: str,
    planned: Planned,
    error: type[ModelError],
    message: str,
    requests: int,
) -> None:
    if planned.body is None:
        planned.body = error_answer(provider, "bad key") if planned.status >= 400 else {}
    server.plan = [planned]
    model = build(provider, server.url, tmp_path, max_retries=1, timeout="300ms")
    with pytest.raises(error, match=message):
        ask(model)
    assert len(server.requests) == requests


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("planned", "requests"),
    [
        (Planned(500, b"still down"), 2),
        (Planned(401, b"bad key"), 1),
        (Planned(200, b"not json"), 1),
    ],
    ids=["500-exhausted", "401-endpoint", "malformed"],
)
def test_falls_back_to_scripted(
    server: FakeServer, tmp_path: Path, provider: str, planned: Planned, requests: int
) -> None:
    server.plan = [planned]
    model = build(provider, server.url, tmp_path, max_retries=1, fallback=["backup"])
    response = ask(model)
    assert (response.text, response.model, model.name) == ("backup answer", "backup", "main")
    assert len(server.requests) == requests


@pytest.mark.parametrize("provider", PROVIDERS)
def test_request_faults_do_not_fall_back(server: FakeServer, tmp_path: Path, provider: str) -> None:
    server.plan = [Planned(400, error_answer(provider, "context too long"))]
    model = build(provider, server.url, tmp_path, fallback=["backup"])
    with pytest.raises(PermanentModelError, match="context too long") as caught:
        ask(model)
    assert caught.value.request_fault


@pytest.mark.parametrize("provider", PROVIDERS)
def test_connection_refused_is_temporary(tmp_path: Path, provider: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        model = build(provider, f"http://127.0.0.1:{port}", tmp_path, max_retries=0)
        with pytest.raises(TemporaryModelError, match="could not reach"):
            ask(model)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_connection_refused_falls_back(tmp_path: Path, provider: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        model = build(provider, url, tmp_path, max_retries=0, fallback=["backup"])
        assert ask(model).model == "backup"


# -- what goes over the wire ----------------------------------------------------------------------

CONVERSATION = [
    Message("system", "Be brief."),
    Message("user", "Find a and b"),
    Message("assistant", "Looking.", (ToolCall("c1", "lookup", {"q": "a"}),
                                      ToolCall("c2", "lookup", {"q": "b"}))),
    Message("tool", "A found", tool_call_id="c1"),
    Message("tool", "B failed", tool_call_id="c2", is_error=True),
]  # fmt: skip


def test_openai_request(server: FakeServer, tmp_path: Path) -> None:
    server.plan = [Planned(body=text_answer("openai", "ok"))]
    ask(build("openai", server.url, tmp_path, temperature=0.2, max_tokens=50), CONVERSATION)
    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-test"
    body = request.body
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("test-model", 0.2, 50)
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Look up",
                "parameters": {"type": "object", "properties": {}},
            },
        }
    ]
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool", "tool"]
    assistant = body["messages"][2]
    assert assistant["tool_calls"][1]["function"] == {"name": "lookup", "arguments": '{"q": "b"}'}
    assert body["messages"][3] == {"role": "tool", "tool_call_id": "c1", "content": "A found"}
    assert body["messages"][4]["content"] == "Tool error: B failed"


def test_anthropic_request(server: FakeServer, tmp_path: Path) -> None:
    server.plan = [Planned(body=text_answer("anthropic", "ok"))]
    ask(build("anthropic", server.url, tmp_path, temperature=0.5), CONVERSATION)
    [request] = server.requests
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == "sk-test"
    assert request.headers["anthropic-version"] == "2023-06-01"
    body = request.body
    assert (body["model"], body["max_tokens"], body["system"]) == ("test-model", 1024, "Be brief.")
    assert body["tools"][0]["input_schema"] == {"type": "object", "properties": {}}
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"][1] == {
        "type": "tool_use",
        "id": "c1",
        "name": "lookup",
        "input": {"q": "a"},
    }
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "c1", "content": "A found"},
        {"type": "tool_result", "tool_use_id": "c2", "content": "B failed", "is_error": True},
    ]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_without_api_key_no_auth_header(server: FakeServer, tmp_path: Path, provider: str) -> None:
    server.plan = [Planned(body=text_answer(provider, "local"))]
    assert ask(build(provider, server.url, tmp_path, api_key=None)).text == "local"
    headers = {k.lower() for k in server.requests[0].headers}
    assert not headers & {"authorization", "x-api-key"}


def test_max_concurrency_limits_parallel_calls(server: FakeServer, tmp_path: Path) -> None:
    server.plan = [Planned(body=text_answer("openai", "ok"), delay=0.2)]
    model = build("openai", server.url, tmp_path, limits={"max_concurrency": 1})

    async def run() -> float:
        started = time.monotonic()
        try:
            await asyncio.gather(*(model.complete([Message("user", "x")], []) for _ in range(3)))
        finally:
            await model.aclose()
        return time.monotonic() - started

    assert asyncio.run(run()) >= 0.6
    assert len(server.requests) == 3


@pytest.mark.parametrize("provider", PROVIDERS)
def test_unusable_base_url_is_permanent(tmp_path: Path, provider: str) -> None:
    model = build(provider, "ftp://127.0.0.1:1", tmp_path, fallback=["backup"])
    assert ask(model).model == "backup"  # a wrong URL is about the endpoint: fall back
    with pytest.raises(PermanentModelError, match="is not usable"):
        ask(build(provider, "ftp://127.0.0.1:1", tmp_path))
