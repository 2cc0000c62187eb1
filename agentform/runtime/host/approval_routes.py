"""The control API's routes for humans in the loop: approval requests, and subject tokens.

=========================================  ===================================================
``GET    /v1/approvals``                   requests waiting for a human (``status``, ``agent``)
``GET    /v1/approvals/{id}``              one request
``POST   /v1/approvals/{id}``              decide it: ``{decision, reason?, result?}``
``POST   /v1/tokens``                      make a bearer token for a subject (shown once)
``GET    /v1/tokens``                      the tokens (subjects, ids; never the tokens)
``DELETE /v1/tokens/{subject}``            revoke a subject's tokens
=========================================  ===================================================

A subject sees and decides the requests it may decide (``approve:`` on a policy that held the
call; an unknown outcome, a tripped circuit breaker or anything else: ``admin:*``); tokens are
an admin's. Deciding goes through :func:`agentform.runtime.host.approvals.decide`, which wakes
the task. Mounted by :mod:`.control` behind its authentication.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any, get_args

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentform.runtime.audit import AuditEvent
from agentform.runtime.errors import EngineError
from agentform.runtime.host import approvals
from agentform.runtime.host.bodies import MAX_BODY, BadRequest, json_body, opt_str
from agentform.runtime.host.callers import Caller
from agentform.runtime.host.query import Query
from agentform.runtime.host.view import EngineView
from agentform.runtime.store.approvals import Approval, Decided, Status
from agentform.runtime.store.tokens import TokenInfo, TokenStore

__all__ = ["approval_routes", "token_routes"]

Guard = Callable[
    [Callable[[Request, Caller], Awaitable[Response]]], Callable[[Request], Awaitable[Response]]
]

# what a decision may say, and what it records: retry and fail answer an unknown outcome
_DECISIONS: dict[str, Decided] = {
    "approve": "approved",
    "deny": "denied",
    "retry": "approved",
    "fail": "denied",
    "happened": "happened",
}


def approval_routes(engine: EngineView, guarded: Guard) -> list[Route]:
    async def list_approvals(request: Request, caller: Caller) -> Response:
        query = Query(request.query_params, "status", "agent")
        status, agent = query.choice("status", get_args(Status)), query.text("agent")
        book = approvals.book(engine)
        found = await asyncio.to_thread(lambda: book.list_requests(status=status, agent=agent))
        # a subject sees the requests it may decide (approve: on a policy that held the call)
        return JSONResponse([a.to_dict() for a in found if caller.may_decide(engine, a)])

    async def _approval(caller: Caller, id: str) -> Approval:
        found = await asyncio.to_thread(approvals.book(engine).get, id)
        if found is None or not caller.may_decide(engine, found):
            raise EngineError(f"no approval request {id!r} that you may decide", 404)
        return found

    async def get_approval(request: Request, caller: Caller) -> Response:
        found = await _approval(caller, request.path_params["id"])
        return JSONResponse(found.to_dict())

    async def decide_approval(request: Request, caller: Caller) -> Response:
        found = await asyncio.to_thread(approvals.book(engine).get, request.path_params["id"])
        if found is not None and not caller.may_decide(engine, found):
            policies = ", ".join(f"approve:{p}" for p in found.policies)
            raise EngineError(
                f"{caller.subject!r} may not decide calls held by policy"
                f" {', '.join(found.policies)}: give it a role with {policies} in the spec's"
                " access and apply",
                403,
            )
        body = await json_body(request)
        choice = body.get("decision")
        decision = _DECISIONS.get(choice) if isinstance(choice, str) else None
        if decision is None:
            raise BadRequest(
                'a decision needs {"decision": "approve" | "deny", "reason": TEXT}; an unknown'
                ' outcome takes "retry", "fail" or "happened" with "result": TEXT'
            )
        note = opt_str(body, "reason") or ""
        if decision == "happened":
            result = body.get("result")
            if not isinstance(result, str) or not result.strip() or len(result) > MAX_BODY:
                raise BadRequest('"happened" needs "result": the call\'s result, as text')
            note = result
        decided = await approvals.decide(
            engine, request.path_params["id"], decision, by=caller.subject, note=note
        )
        return JSONResponse(decided.to_dict())

    return [
        Route("/v1/approvals", guarded(list_approvals)),
        Route("/v1/approvals/{id:path}", guarded(get_approval), methods=["GET"]),
        Route("/v1/approvals/{id:path}", guarded(decide_approval), methods=["POST"]),
    ]


def _token_json(info: TokenInfo) -> dict[str, Any]:
    return {**asdict(info), "created_at": info.created_at.isoformat()}


def token_routes(engine: EngineView, guarded: Guard) -> list[Route]:
    def _tokens() -> TokenStore:
        if engine.a2a.tokens is None:
            raise EngineError("no runtime store is set up; run 'agentform apply' first", 409)
        return engine.a2a.tokens

    async def create_token(request: Request, caller: Caller) -> Response:
        caller.require_admin(engine, "make tokens")
        subject = opt_str(await json_body(request), "subject")
        if subject is None:
            raise BadRequest('a token needs {"subject": NAME}')
        token, info = await asyncio.to_thread(_tokens().create, subject)
        await engine.audit(
            AuditEvent("token.created", caller.subject, data={"subject": subject, "id": info.id})
        )
        return JSONResponse({**_token_json(info), "token": token}, status_code=201)

    async def list_tokens(request: Request, caller: Caller) -> Response:
        caller.require_admin(engine, "list tokens")
        found = await asyncio.to_thread(_tokens().list)
        return JSONResponse([_token_json(t) for t in found])

    async def revoke_tokens(request: Request, caller: Caller) -> Response:
        caller.require_admin(engine, "revoke tokens")
        subject = request.path_params["subject"]
        revoked = await asyncio.to_thread(_tokens().revoke, subject)
        await engine.audit(
            AuditEvent("token.revoked", caller.subject, data={"subject": subject, "count": revoked})
        )
        return JSONResponse({"subject": subject, "revoked": revoked})

    return [
        Route("/v1/tokens", guarded(create_token), methods=["POST"]),
        Route("/v1/tokens", guarded(list_tokens), methods=["GET"]),
        Route("/v1/tokens/{subject}", guarded(revoke_tokens), methods=["DELETE"]),
    ]
