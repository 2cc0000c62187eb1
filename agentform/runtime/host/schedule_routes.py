"""The control API's schedule routes: what the schedules did and will do, and firing or pausing
one by hand (``agentform schedules``).

=============================================  ===============================================
``GET    /v1/schedules``                       every declared schedule: next and last fire,
                                               the last outcome, paused; whether this engine
                                               leads (runs the schedules)
``POST   /v1/schedules/{name}/run``            fire it now (its task, caller ``schedule:NAME``)
``POST   /v1/schedules/{name}/pause``          no fire until resumed (kept in the runtime store:
                                               a restart or a new leader keeps the pause)
``POST   /v1/schedules/{name}/resume``         fire again; missed fires follow ``catch_up``
=============================================  ===============================================

Reading needs ``read:tasks`` (a schedule's last outcome is a task); run, pause and resume need
``admin:*`` (or the operator's engine token). Any engine on the store answers: a pause recorded
by a standby is acted on by the leader within a third of the lease's time to live. Mounted by
:mod:`.control` behind its authentication, which hands each route the :class:`~.callers.Caller`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentform.runtime.errors import EngineError
from agentform.runtime.host.callers import Caller
from agentform.runtime.host.engine import Engine
from agentform.runtime.store.schedules import ScheduleState

__all__ = ["schedule_routes"]

Guard = Callable[
    [Callable[[Request, Caller], Awaitable[Response]]], Callable[[Request], Awaitable[Response]]
]


def schedule_routes(engine: Engine, guarded: Guard) -> list[Route]:
    async def outcome(state: ScheduleState) -> str | None:
        """The last fire's outcome: why it submitted nothing, or its task's status now."""
        if state.last_error is not None:
            return f"not submitted: {state.last_error}"
        store = engine.store
        if state.last_task_id is None or store is None:
            return None
        task = await store.run(store.get_task, state.last_task_id)
        return task.status.value if task is not None else "pruned"

    async def listing(request: Request, caller: Caller) -> Response:
        if not caller.reads_tasks(engine):
            raise EngineError(
                f"{caller.subject!r} may not read the schedules: give it a role with read:tasks"
                " in the spec's access and apply",
                403,
            )
        found = []
        for listed in await engine.schedules.listed():
            found.append({**listed.to_dict(), "last_outcome": await outcome(listed.state)})
        return JSONResponse({"leader": engine.schedules.leader.leads(), "schedules": found})

    async def run(request: Request, caller: Caller) -> Response:
        caller.require_admin(engine, "fire schedules")
        state = await engine.schedules.fire(request.path_params["name"])
        return JSONResponse(await _state(state), status_code=202)

    async def pause(request: Request, caller: Caller) -> Response:
        caller.require_admin(engine, "pause schedules")
        return JSONResponse(await _state(await engine.schedules.pause(_name(request), True)))

    async def resume(request: Request, caller: Caller) -> Response:
        caller.require_admin(engine, "resume schedules")
        return JSONResponse(await _state(await engine.schedules.pause(_name(request), False)))

    async def _state(state: ScheduleState) -> dict[str, Any]:
        return {
            "name": state.name,
            "paused": state.paused,
            "last_run_at": state.last_run_at.isoformat() if state.last_run_at else None,
            "last_task_id": state.last_task_id,
            "last_outcome": await outcome(state),
            "runs": state.runs,
        }

    def _name(request: Request) -> str:
        return str(request.path_params["name"])

    return [
        Route("/v1/schedules", guarded(listing)),
        Route("/v1/schedules/{name}/run", guarded(run), methods=["POST"]),
        Route("/v1/schedules/{name}/pause", guarded(pause), methods=["POST"]),
        Route("/v1/schedules/{name}/resume", guarded(resume), methods=["POST"]),
    ]
