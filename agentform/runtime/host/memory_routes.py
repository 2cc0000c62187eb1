"""The control API's memory routes: what the stores hold, for a subject with ``read:memory``.

=========================================  ===================================================
``GET    /v1/memory``                      every store: kind, scope, entries, bytes
``GET    /v1/memory/{store}``              its live entries, newest first (``scope``, ``limit``)
=========================================  ===================================================

Reading memory needs ``read:memory`` (or ``admin:*``, or the operator's engine token): stores
hold what agents learned about customers, so an invoker may not read them. Mounted by
:mod:`.control` behind its authentication, which hands each route the :class:`~.callers.Caller`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentform.runtime.errors import EngineError
from agentform.runtime.host.callers import Caller
from agentform.runtime.host.query import Query
from agentform.runtime.host.view import EngineView
from agentform.runtime.store.memory.service import MemoryStoreError

__all__ = ["memory_routes"]

Guard = Callable[
    [Callable[[Request, Caller], Awaitable[Response]]], Callable[[Request], Awaitable[Response]]
]
MAX_LIMIT = 500


def memory_routes(engine: EngineView, guarded: Guard) -> list[Route]:
    def _may_read(caller: Caller) -> None:
        if not caller.reads_memory(engine):
            raise EngineError(
                f"{caller.subject!r} may not read memory: give it a role with read:memory in"
                " the spec's access and apply",
                403,
            )

    def _memory() -> Any:
        memory = engine.memories.memory
        if memory is None:
            raise EngineError("no memory store is set up; declare one and apply", 409)
        return memory

    async def stores(request: Request, caller: Caller) -> Response:
        _may_read(caller)
        listed = []
        for address, values in sorted(engine.resources.items()):
            if not address.startswith("memory."):
                continue
            name = address.partition(".")[2]
            usage = await asyncio.to_thread(engine.memories.usage, name) or {}
            listed.append(
                {
                    "name": name,
                    "kind": values.get("kind"),
                    "scope": values.get("scope"),
                    "entries": usage.get("entries", 0),
                    "bytes": usage.get("bytes", 0),
                }
            )
        return JSONResponse(listed)

    async def entries(request: Request, caller: Caller) -> Response:
        _may_read(caller)
        store = request.path_params["store"]
        if f"memory.{store}" not in engine.resources:
            raise EngineError(f"no memory store named {store!r}", 404)
        query = Query(request.query_params, "scope", "limit")
        scope = query.text("scope")
        limit = query.number("limit", default=50, low=1, high=MAX_LIMIT)
        memory = _memory()
        try:
            found = await asyncio.to_thread(
                lambda: memory.entries(store, scope, limit=limit, newest_first=True)
            )
        except MemoryStoreError as exc:
            raise EngineError(str(exc), 400) from None
        return JSONResponse([{**e.to_dict(), "bytes": e.bytes} for e in found])

    return [
        Route("/v1/memory", guarded(stores)),
        Route("/v1/memory/{store}", guarded(entries)),
    ]
