"""The control API's audit routes: reading and checking the hash-chained audit log.

=========================================  ===================================================
``GET    /v1/audit``                       records, newest first (``agent``, ``actor``,
                                           ``kind`` or a prefix, ``task``, ``since``, ``limit``)
``GET    /v1/audit/verify``                recompute the chain: ``{ok, checked, broken}``
``GET    /v1/audit/export``                every record in order, as JSON lines
=========================================  ===================================================

Every route needs ``read:audit`` (or ``admin:*``, or the operator's engine token). Mounted by
:mod:`.control` behind its authentication, which hands each route the :class:`~.callers.Caller`.
The log itself is :class:`agentform.runtime.store.audit.AuditLog`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agentform.runtime.audit import KINDS, Chained
from agentform.runtime.errors import EngineError
from agentform.runtime.host.callers import Caller
from agentform.runtime.host.view import EngineView
from agentform.runtime.store.audit import AuditLog

__all__ = ["audit_routes"]

Guard = Callable[
    [Callable[[Request, Caller], Awaitable[Response]]], Callable[[Request], Awaitable[Response]]
]
MAX_LIMIT = 1000
_FILTERS = ("agent", "actor", "kind", "task", "since", "limit")


def audit_routes(engine: EngineView, guarded: Guard) -> list[Route]:
    def _log(caller: Caller) -> AuditLog:
        if not caller.reads_audit(engine):
            raise EngineError(
                f"{caller.subject!r} may not read the audit log: give it a role with read:audit"
                " in the spec's access and apply",
                403,
            )
        if engine.audit_log is None:
            raise EngineError("no runtime store is set up; run 'agentform apply' first", 409)
        return engine.audit_log

    async def listing(request: Request, caller: Caller) -> Response:
        audit_log = _log(caller)
        query = request.query_params
        unknown = sorted(set(query) - set(_FILTERS))
        if unknown:
            raise EngineError(f"unknown filter {unknown[0]!r}; use {', '.join(_FILTERS)}", 400)
        limit_text = query.get("limit", "100")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
            raise EngineError(f"limit must be a whole number from 1 to {MAX_LIMIT}", 400)
        kind = query.get("kind") or None
        if kind is not None and not any(
            k == kind or k.startswith(kind.rstrip(".") + ".") for k in KINDS
        ):
            raise EngineError(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}", 400)
        since = query.get("since") or None
        if since is not None:
            try:
                datetime.fromisoformat(since)
            except ValueError:
                raise EngineError(
                    f"since must be an ISO 8601 time such as 2026-12-01T00:00:00+00:00, not"
                    f" {since[:50]!r}",
                    400,
                ) from None
        for name in ("agent", "actor", "task"):
            if len(query.get(name) or "") > 255:
                raise EngineError(f"{name} is at most 255 characters", 400)
        found = await asyncio.to_thread(
            lambda: audit_log.list(
                agent=query.get("agent") or None,
                actor=query.get("actor") or None,
                kind=kind,
                task=query.get("task") or None,
                since=since,
                limit=int(limit_text),
            )
        )
        return JSONResponse([r.to_dict() for r in found])

    async def verify(request: Request, caller: Caller) -> Response:
        audit_log = _log(caller)
        checked, broken = await asyncio.to_thread(audit_log.verify)
        body = {
            "ok": broken is None,
            "checked": checked,
            "broken": None if broken is None else {"seq": broken.seq, "reason": broken.reason},
        }
        return JSONResponse(body)

    async def export(request: Request, caller: Caller) -> Response:
        audit_log = _log(caller)

        async def lines() -> AsyncIterator[bytes]:
            records = audit_log.export()
            while True:
                page = await asyncio.to_thread(_take, records, 1000)
                if not page:
                    return
                yield "".join(json.dumps(r.to_dict()) + "\n" for r in page).encode()

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    return [
        Route("/v1/audit", guarded(listing)),
        Route("/v1/audit/verify", guarded(verify)),
        Route("/v1/audit/export", guarded(export)),
    ]


def _take(records: Iterator[Chained], count: int) -> list[Chained]:
    return list(itertools.islice(records, count))
