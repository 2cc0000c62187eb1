"""The gate in front of an agent's A2A server: bearer token, permission, sane bodies.

Owns :class:`A2AGate`, an ASGI middleware that every request but the agent card passes:

1. ``Authorization: Bearer TOKEN`` must name a live token (:mod:`agentform.runtime.store.tokens`),
   else **401** with ``WWW-Authenticate: Bearer``;
2. the token's subject must hold what the operation needs (:class:`AgentAccess`, resolved at
   plan time from ``access``), else **403**: sending a message needs ``invoke`` (or, to answer
   a task waiting for approval, ``approve`` on one of the agent's policies); cancelling needs
   ``cancel`` on the agent, reading tasks (get, list, subscribe) ``read:tasks``, and an invoker
   may also cancel and read the tasks it sent itself (the handler keeps it to those);
3. a body must be JSON (``application/json`` or ``application/a2a+json``, else **415**) and at
   most :data:`MAX_BODY` bytes (else **413**), checked while it is read, before any parsing; a
   request with no body and no content type (``POST /tasks/{id}:subscribe``) passes as it is.

Refusals are answered in the binding's own shape: a JSON-RPC error object on the JSON-RPC
endpoint (codes in :data:`CODES`), an ``{"error": {code, status, message}}`` object on the
HTTP+JSON routes. Accepted requests carry the subject as Starlette's ``scope["user"]``, which the
SDK hands to the request handler as ``context.user``. Built by :mod:`agentform.runtime.a2a.host`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH
from starlette.authentication import AuthCredentials, SimpleUser
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentform.runtime.errors import EngineError, RateLimited

__all__ = [
    "CODES",
    "MAX_BODY",
    "A2AGate",
    "AgentAccess",
]

MAX_BODY = 1_000_000
JSON_TYPES = frozenset({"application/json", "application/a2a+json"})
# JSON-RPC codes for refusals the A2A error set has no code for (-32000..-32099 is the
# implementation-defined server-error range; A2A itself uses -32001..-32009)
CODES = {401: -32040, 403: -32043, 413: -32600, 415: -32600, 429: -32029, 503: -32050}
STATUS = {
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
}


@dataclass(frozen=True, slots=True)
class AgentAccess:
    """Who may do what with one agent: the subjects planning resolved from ``access``."""

    invokers: frozenset[str] = frozenset()
    cancelers: frozenset[str] = frozenset()
    readers: frozenset[str] = frozenset()
    deciders: frozenset[str] = frozenset()  # approve: on one of the agent's policies


# JSON-RPC methods (A2A 1.0 and 0.3 names) that are not a message sent to the agent
_RPC = {
    "CancelTask": "cancel",
    "tasks/cancel": "cancel",
    "GetTask": "read",
    "ListTasks": "read",
    "SubscribeToTask": "read",
    "tasks/get": "read",
    "tasks/list": "read",
    "tasks/resubscribe": "read",
}


def _operation(scope: Scope, body: bytes, rpc_path: str) -> str:
    """``invoke``, ``cancel`` or ``read``: what a request asks of the agent."""
    path, method = scope["path"], scope["method"]
    if path == rpc_path and method == "POST":
        if not any(name.encode() in body for name in _RPC):
            return "invoke"  # a message to the agent: no need to parse the body here
        try:
            request = json.loads(body) if body else None
        except ValueError:
            return "invoke"  # the SDK answers the parse error, for an invoker
        name = request.get("method") if isinstance(request, dict) else None
        return _RPC.get(name, "invoke") if isinstance(name, str) else "invoke"
    if path.rstrip("/").endswith(":cancel"):
        return "cancel"
    if path.rstrip("/").endswith(":subscribe") or (method == "GET" and "/tasks" in path):
        return "read"
    return "invoke"


class _Refused(Exception):
    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class A2AGate:
    """Authenticate and authorise every request to ``app`` except the agent card."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        agent: str,
        authenticate: Callable[[str], Awaitable[str | None]],
        access: Callable[[], AgentAccess],
        rpc_path: str = "/",
        admit: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.app = app
        self.agent = agent
        self.authenticate = authenticate
        self.access = access
        self.rpc_path = rpc_path
        # counts a message against the agent's rate limit; raises RateLimited or EngineError
        self.admit = admit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == AGENT_CARD_WELL_KNOWN_PATH:
            await self.app(scope, receive, send)
            return
        try:
            subject = await self._subject(Headers(scope=scope))
            body = b""
            if scope["method"] in ("POST", "PUT", "PATCH"):
                receive, body = await self._body(Headers(scope=scope), receive)
            operation = _operation(scope, body, self.rpc_path)
            self._authorise(subject, operation)
            if operation == "invoke" and self.admit is not None:
                await self._admit(subject)
        except _Refused as refused:
            await self._refuse(scope, refused, send)
            return
        scope["user"] = SimpleUser(subject)
        scope["auth"] = AuthCredentials([f"invoke:{self.agent}"])
        await self.app(scope, receive, send)

    async def _subject(self, headers: Headers) -> str:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _Refused(
                401,
                "this agent needs 'Authorization: Bearer TOKEN'; 'agentform tokens create"
                " SUBJECT' makes a token",
            )
        subject = await self.authenticate(token.strip())
        if subject is None:
            raise _Refused(401, "the bearer token is not valid or was revoked; use a live token")
        return subject

    def _authorise(self, subject: str, operation: str) -> None:
        access = self.access()
        if operation == "cancel":
            allowed, verb = access.cancelers | access.invokers, f"cancel:{self.agent}"
        elif operation == "read":
            allowed, verb = access.readers | access.invokers, "read:tasks"
        else:
            allowed, verb = access.invokers | access.deciders, f"invoke:{self.agent}"
        if subject not in allowed:
            what = {"cancel": "cancel tasks of", "read": "read tasks of"}.get(operation, "invoke")
            raise _Refused(
                403,
                f"{subject!r} is not allowed to {what} agent {self.agent}: give it a role with"
                f" {verb} in the spec's access.members and apply",
            )

    async def _admit(self, subject: str) -> None:
        assert self.admit is not None
        try:
            await self.admit(subject)
        except RateLimited as exc:
            raise _Refused(429, str(exc), exc.retry_after) from None
        except EngineError as exc:
            raise _Refused(503 if exc.status >= 500 else exc.status, str(exc)) from None

    async def _body(self, headers: Headers, receive: Receive) -> tuple[Receive, bytes]:
        """Read the whole body (refusing a wrong type or an oversized one) and replay it."""
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        empty = headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers
        if not kind and empty:
            return receive, b""  # no body (the SDK's subscribe sends none): nothing to check
        if kind not in JSON_TYPES:
            raise _Refused(
                415, f"send a JSON body with content-type application/json, not {kind!r}"
            )
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            raise _Refused(413, f"Payload too large: the body is over {MAX_BODY:,} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                raise _Refused(413, f"Payload too large: the body is over {MAX_BODY:,} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # the disconnect, when the client goes away
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay, body

    async def _refuse(self, scope: Scope, refused: _Refused, send: Send) -> None:
        status, message = refused.status, str(refused)
        payload: dict[str, Any]
        if scope["path"] == self.rpc_path:
            payload = {
                "jsonrpc": "2.0",
                "id": None,
                "error": {"code": CODES[status], "message": message},
            }
        else:
            payload = {"error": {"code": status, "status": STATUS[status], "message": message}}
        headers = [(b"content-type", b"application/json")]
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="agentform"'))
        if refused.retry_after is not None:
            headers.append((b"retry-after", str(max(1, round(refused.retry_after))).encode()))
        body = json.dumps(payload).encode()
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
