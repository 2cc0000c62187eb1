"""One log line for every request a server of the engine refuses, and never more.

Owns :class:`RefusalLog`, an ASGI middleware around the control API
(:mod:`agentform.runtime.host.control`) and every agent's A2A server
(:mod:`agentform.runtime.a2a.host`). Whoever holds a token can send malformed requests as fast as
the engine answers them, so what a refusal costs the log is bounded: one line with the server,
the method, the path, the status (and the JSON-RPC error code, which the A2A endpoint answers
with HTTP 200) and the reason the client was told, cut to :data:`MAX_REASON` characters. Never
the body, the query or a traceback; control characters are escaped, so a request cannot forge
lines. For example::

    a2a greeter refused POST / (200, JSON-RPC -32602): Invalid params
    control API refused GET /v1/tasks (400): limit must be a whole number from 1 to 1000

Client errors (4xx, and JSON-RPC errors) are logged at INFO, server errors at WARNING; an
exception no handler caught is not a refusal and keeps the traceback its server logs.
"""

from __future__ import annotations

import json
import logging
import re
from http import HTTPStatus
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MAX_PATH", "MAX_REASON", "RefusalLog"]

log = logging.getLogger("agentform.refusals")
MAX_REASON = 100  # characters of the reason in the line
MAX_PATH = 80
_ERROR_BODY = 65536  # a longer error answer is not parsed: its first _HEAD bytes are read
_HEAD = 2048
_CODE = re.compile(r'"code"\s*:\s*(-?[0-9]{1,9})')
# the start of the message: it may go on past the head, and the line shows MAX_REASON of it
_MESSAGE = re.compile(r'"(?:message|error)"\s*:\s*"((?:[^"\\]|\\.){0,300})')
# C0 and C1 controls and the Unicode line breaks: nothing in a request may start a new line
_ESCAPES = {i: f"\\u{i:04x}" for i in (*range(32), *range(127, 160), 0x2028, 0x2029)}


class RefusalLog:
    """Log one line per refused request to ``app``; ``server`` names it in the line, and a
    POST to ``rpc_path`` is JSON-RPC (errors in a 200 answer are refusals too)."""

    def __init__(self, app: ASGIApp, server: str, rpc_path: str | None = None) -> None:
        self.app = app
        self.server = server
        self.rpc_path = rpc_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rpc = scope["method"] == "POST" and scope["path"] == self.rpc_path
        status = 0
        watching = False

        async def watch(message: Message) -> None:
            nonlocal status, watching
            if message["type"] == "http.response.start":
                status = int(message["status"])
                kind = _content_type(message.get("headers", ()))
                watching = status >= 400 or (rpc and status == 200 and kind == "application/json")
            elif message["type"] == "http.response.body" and watching:
                watching = False  # the first chunk says it: error answers come in one piece
                self._refused(scope, status, message.get("body", b""), rpc)
            await send(message)

        await self.app(scope, receive, watch)

    def _refused(self, scope: Scope, status: int, body: bytes, rpc: bool) -> None:
        code: Any = None
        if rpc and status == 200:
            # a JSON-RPC answer is a result or an error; results are not parsed here
            if b'"result"' in body or b'"error"' not in body:
                return
            code, reason = _rpc_error(body)
        else:
            reason = _reason(body) or _phrase(status)
        shown = f"{status}, JSON-RPC {code}" if code is not None else str(status)
        log.log(
            logging.WARNING if status >= 500 else logging.INFO,
            "%s refused %s %s (%s): %s",
            self.server,
            _clean(str(scope["method"]), 16),
            _clean(str(scope["path"]), MAX_PATH),
            shown,
            _clean(reason, MAX_REASON),
        )


def _content_type(headers: Any) -> str:
    for name, value in headers:
        if name.lower() == b"content-type":
            return bytes(value).split(b";")[0].strip().decode("latin-1").lower()
    return ""


def _error_of(body: bytes) -> Any:
    """The ``error`` member of an error answer: parsed, or for a long answer (one that quotes a
    large request) its code and message read from the first bytes, where they come first."""
    if len(body) <= _ERROR_BODY:
        try:
            answer = json.loads(body)
        except ValueError:
            return None
        return answer.get("error") if isinstance(answer, dict) else None
    head = body[:_HEAD].decode("utf-8", "replace")
    code, message = _CODE.search(head), _MESSAGE.search(head)
    text = ""
    if message is not None:
        try:
            text = json.loads(f'"{message.group(1)}"')
        except ValueError:
            text = message.group(1)
    return {"code": int(code.group(1)) if code else None, "message": text}


def _rpc_error(body: bytes) -> tuple[Any, str]:
    error = _error_of(body)
    if not isinstance(error, dict):
        return "?", ""
    code = error.get("code")
    return (code if isinstance(code, int) else "?"), str(error.get("message") or "")


def _reason(body: bytes) -> str:
    """The sentence of an error answer: ``{"error": TEXT}`` (the control API) or
    ``{"error": {"message": TEXT}}`` (A2A's HTTP+JSON and JSON-RPC refusals)."""
    error = _error_of(body)
    if isinstance(error, dict):
        error = error.get("message")
    return error if isinstance(error, str) else ""


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


def _clean(text: str, longest: int) -> str:
    text = text.translate(_ESCAPES)
    return text if len(text) <= longest else text[: longest - 1] + "…"
