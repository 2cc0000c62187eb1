"""Parameters the SDK parses leniently and this server refuses: a ListTasks ``status`` it does
not know.

The SDK parses JSON-RPC params with protobuf's ``ignore_unknown_fields``, which also turns an
unknown enum value into 0 (unspecified): ``ListTasks {"status": "TASK_STATE_BOGUS"}`` would list
every task, as if no filter had been asked. :class:`StrictParams` sits between the gate
(:mod:`.auth`, which has already read and replays the body) and the SDK's routes, and answers
such a request with JSON-RPC's invalid-params error (-32602), or 400 on the HTTP+JSON
``GET /tasks?status=``. Only bodies that name ListTasks are parsed here. Built by :mod:`.host`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from a2a.types import TaskState
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["StrictParams"]

STATES = frozenset(TaskState.keys()) | frozenset(TaskState.values())


def _unknown(status: Any) -> bool:
    return status not in (None, "") and status not in STATES


class StrictParams:
    """Refuse an unknown ListTasks status instead of listing everything."""

    def __init__(self, app: ASGIApp, rpc_path: str = "/") -> None:
        self.app = app
        self.rpc_path = rpc_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "GET" and scope["path"].rstrip("/").endswith("/tasks"):
            query = parse_qs(scope.get("query_string", b"").decode(errors="replace"))
            status = next(iter(query.get("status", [])), None)
            if _unknown(status):
                await _answer(send, 400, _rest_error(status))
                return
        if scope["method"] == "POST" and scope["path"] == self.rpc_path:
            message = await receive()
            body = message.get("body", b"")
            if b"ListTasks" in body:
                refusal = _rpc_refusal(body)
                if refusal is not None:
                    await _answer(send, 200, refusal)
                    return
            sent = False

            async def replay() -> Message:
                nonlocal sent
                if sent:
                    return await receive()
                sent = True
                return message

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)


def _rpc_refusal(body: bytes) -> dict[str, Any] | None:
    try:
        request = json.loads(body)
    except ValueError:
        return None  # the SDK answers a parse error itself
    if not isinstance(request, dict) or request.get("method") != "ListTasks":
        return None
    params = request.get("params")
    status = params.get("status") if isinstance(params, dict) else None
    if not _unknown(status):
        return None
    return {
        "jsonrpc": "2.0",
        "id": request.get("id"),
        "error": {"code": -32602, "message": _message(status)},
    }


def _message(status: Any) -> str:
    names = TaskState.keys()  # a protobuf enum wrapper: iterate its names
    known = ", ".join(k for k in names if k != "TASK_STATE_UNSPECIFIED")
    return f"status {status!r} is not a task state; use one of {known}"


def _rest_error(status: Any) -> dict[str, Any]:
    return {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": _message(status)}}


async def _answer(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
