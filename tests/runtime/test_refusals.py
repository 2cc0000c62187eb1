"""A refused request is one short line in the log: never the body, the query or a traceback."""

from __future__ import annotations

import json
import logging

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from agentform.runtime.refusals import MAX_PATH, MAX_REASON, RefusalLog

SECRET = "sk-the-body-is-never-logged"


async def answer(request: Request) -> Response:
    """Answers with what the request's own JSON body asks for: status, body, content type."""
    asked = json.loads(await request.body())
    kind = asked.get("type", "application/json")
    body = asked["body"] if isinstance(asked["body"], str) else json.dumps(asked["body"])
    return Response(body, status_code=asked["status"], media_type=kind)


async def streamed(request: Request) -> Response:
    return PlainTextResponse("data: {}\n\n", media_type="text/event-stream")


async def fails(request: Request) -> Response:
    return JSONResponse({"error": "the store is down"}, status_code=503)


APP = RefusalLog(
    Starlette(
        routes=[
            Route("/", answer, methods=["POST"]),
            Route("/v1/thing", answer, methods=["POST"]),
            Route("/stream", streamed, methods=["POST"]),
            Route("/down", fails),
        ]
    ),
    "a2a greeter",
    rpc_path="/",
)


def refusals(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "agentform.refusals"]


def post(path: str, status: int, body: object, **extra: str) -> None:
    with TestClient(APP) as client:
        client.post(f"{path}?token={SECRET}", json={"status": status, "body": body, **extra})


@pytest.mark.parametrize(
    ("path", "status", "body", "line"),
    [
        (
            "/v1/thing",
            400,
            {"error": "limit must be a whole number"},
            "a2a greeter refused POST /v1/thing (400): limit must be a whole number",
        ),
        (
            "/v1/thing",
            403,
            {"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "not allowed"}},
            "a2a greeter refused POST /v1/thing (403): not allowed",
        ),
        (
            "/",
            200,
            {"error": {"code": -32602, "message": "Invalid params", "data": SECRET}, "id": 1},
            "a2a greeter refused POST / (200, JSON-RPC -32602): Invalid params",
        ),
        (
            "/",
            401,
            {"jsonrpc": "2.0", "id": None, "error": {"code": -32040, "message": "no token"}},
            "a2a greeter refused POST / (401): no token",
        ),
        (
            "/",
            200,
            {"error": {"code": -32600, "message": "Invalid Request", "data": "x" * 100_000}},
            "a2a greeter refused POST / (200, JSON-RPC -32600): Invalid Request",
        ),
        (
            "/v1/thing",
            400,
            {"error": "the body is not JSON: " + "y" * 100_000},
            "a2a greeter refused POST /v1/thing (400): the body is not JSON: " + "y" * 77 + "…",
        ),
        ("/v1/thing", 404, "Not Found", "a2a greeter refused POST /v1/thing (404): Not Found"),
        ("/v1/thing", 405, "", "a2a greeter refused POST /v1/thing (405): Method Not Allowed"),
    ],
    ids=[
        "control-api",
        "rest",
        "json-rpc-error",
        "gate",
        "json-rpc-error-quoting-a-large-body",
        "error-quoting-a-large-body",
        "plain-text",
        "empty-body",
    ],
)
def test_a_refusal_is_one_line(
    caplog: pytest.LogCaptureFixture, path: str, status: int, body: object, line: str
) -> None:
    caplog.set_level(logging.INFO)
    post(path, status, body)
    assert refusals(caplog) == [(logging.INFO, line)]  # nothing of the query or the body


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/", 200, {"id": 1, "jsonrpc": "2.0", "result": {"error": "a word in a result"}}),
        ("/v1/thing", 200, {"error": "a 200 off the JSON-RPC path is no refusal"}),
        ("/v1/thing", 201, {"ok": True}),
    ],
    ids=["json-rpc-result", "not-json-rpc", "created"],
)
def test_what_is_not_a_refusal_is_not_logged(
    caplog: pytest.LogCaptureFixture, path: str, status: int, body: object
) -> None:
    caplog.set_level(logging.INFO)
    post(path, status, body)
    with TestClient(APP) as client:
        client.post("/stream", json={})
    assert refusals(caplog) == []


def test_a_server_error_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(APP) as client:
        client.get("/down")
    assert refusals(caplog) == [
        (logging.WARNING, "a2a greeter refused GET /down (503): the store is down")
    ]


def test_a_request_cannot_forge_lines_or_fill_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    forged = "bad\n2026-01-01 00:00:00 INFO engine all is well\u2028" + "x" * 500
    post("/v1/thing", 400, {"error": forged})
    with TestClient(APP) as client:
        client.get("/" + "p" * 500)
    first, second = (message for _, message in refusals(caplog))
    assert "\n" not in first and "\u2028" not in first
    assert "bad\\u000a2026-01-01" in first
    reason = first.split("(400): ", 1)[1]
    assert len(reason) == MAX_REASON and reason.endswith("…")
    assert len(second.split(" ")[4]) == MAX_PATH
