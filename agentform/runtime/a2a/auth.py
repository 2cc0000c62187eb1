"""The gate in front of an agent's A2A server: bearer token, invoke permission, sane bodies.

Owns :class:`A2AGate`, an ASGI middleware that every request but the agent card passes:

1. ``Authorization: Bearer TOKEN`` must name a live token (:mod:`agentform.runtime.store.tokens`),
   else **401** with ``WWW-Authenticate: Bearer``;
2. the token's subject must be one of the agent's ``invokers`` (the subjects whose roles grant
   ``invoke`` on it, resolved at plan time), else **403**;
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
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH
from starlette.authentication import AuthCredentials, SimpleUser
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CODES", "MAX_BODY", "A2AGate"]

MAX_BODY = 1_000_000
JSON_TYPES = frozenset({"application/json", "application/a2a+json"})
# JSON-RPC codes for refusals the A2A error set has no code for (-32000..-32099 is the
# implementation-defined server-error range; A2A itself uses -32001..-32009)
CODES = {401: -32040, 403: -32043, 413: -32600, 415: -32600}
STATUS = {
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
}


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class A2AGate:
    """Authenticate and authorise every request to ``app`` except the agent card."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        agent: str,
        authenticate: Callable[[str], Awaitable[str | None]],
        invokers: Callable[[], Collection[str]],
        rpc_path: str = "/",
    ) -> None:
        self.app = app
        self.agent = agent
        self.authenticate = authenticate
        self.invokers = invokers
        self.rpc_path = rpc_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == AGENT_CARD_WELL_KNOWN_PATH:
            await self.app(scope, receive, send)
            return
        try:
            subject = await self._subject(Headers(scope=scope))
            if scope["method"] in ("POST", "PUT", "PATCH"):
                receive = await self._body(Headers(scope=scope), receive)
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
        if subject not in self.invokers():
            raise _Refused(
                403,
                f"{subject!r} is not allowed to invoke agent {self.agent}: give it a role with"
                f" invoke:{self.agent} in the spec's access.members and apply",
            )
        return subject

    async def _body(self, headers: Headers, receive: Receive) -> Receive:
        """Read the whole body (refusing a wrong type or an oversized one) and replay it."""
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        empty = headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers
        if not kind and empty:
            return receive  # no body at all (the SDK's subscribe sends none): nothing to check
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

        return replay

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
        body = json.dumps(payload).encode()
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
