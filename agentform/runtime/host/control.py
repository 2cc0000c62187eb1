"""The engine's control API: HTTP+JSON on 127.0.0.1, every request with a bearer token.

The engine's own token (``engine.token``) is the operator, who may do everything; a subject's
token (``agentform tokens create``) may do what its roles grant (:mod:`.callers` has the table).

Owns the routes the local provider and the CLI use (the client side is
:mod:`agentform.runtime.host.client`):

=========================================  ===================================================
``GET    /v1/status``                      engine, bus, store, agents with their workers
``GET    /v1/resources``                   what is registered and observed, by address
``PUT    /v1/resources/{address}``         create or update one resource (``{values, secrets?}``)
``DELETE /v1/resources/{address}``         delete one resource
``POST   /v1/tasks``                       submit ``{agent, input, id?, context_id?, inputs?}``, or
                                           many at once: ``{tasks: [...]}`` (up to 1,000)
``GET    /v1/tasks``                       newest tasks (``agent``, ``status``, ``caller``,
                                           ``parent``, ``limit`` up to 1,000)
``GET    /v1/tasks/{id}``                  one task with every recorded step
``GET    /v1/tasks/{id}/events``           NDJSON stream of steps then the final status
``POST   /v1/tasks/{id}/cancel``           cancel: a queued task never starts, a running one
                                           stops before its next step
``POST   /v1/tasks/{id}/reply``            answer the question the task's model asked
                                           (``{text}``; whoever sent the task, or an admin)
``GET    /v1/logs/{agent}``                the agent's log from byte ``offset`` (the next in
                                           ``x-offset``; across a rotation: :mod:`.logfiles`)
``POST   /v1/shutdown``                    stop the workers, the bus and the engine
``POST   /v1/tokens``, ``GET``, ``DELETE``    subject tokens (:mod:`.approval_routes`)
``GET    /v1/approvals[/{id}]``, ``POST``    requests waiting for a human, and deciding them
                                           (:mod:`.approval_routes`)
``GET    /v1/memory[/{store}]``            what the memory stores hold (:mod:`.memory_routes`)
``GET    /v1/audit[/verify|/export]``      the audit log (:mod:`.audit_routes`)
``GET    /v1/schedules``                   the schedules (:mod:`.schedule_routes`)
``POST   /v1/schedules/{name}/...``        ``run`` (fire now), ``pause``, ``resume`` one
=========================================  ===================================================

Errors are JSON ``{"error": sentence}`` with a meaningful status; a query parameter a route does
not take, or one out of range, is a 400 naming it (:mod:`.query`), and so is a body that is not
what the route takes (:mod:`.bodies`). Each refused request is one
line in the engine's log (:class:`~agentform.runtime.refusals.RefusalLog`). Built with Starlette
and served by uvicorn inside the engine's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agentform.runtime.audit import AuditEvent
from agentform.runtime.errors import RateLimited
from agentform.runtime.host import admission, approvals, logfiles
from agentform.runtime.host.approval_routes import approval_routes, token_routes
from agentform.runtime.host.audit_routes import audit_routes
from agentform.runtime.host.bodies import MAX_BODY, BadRequest, json_body, opt_str
from agentform.runtime.host.callers import Caller, identify
from agentform.runtime.host.engine import Engine, EngineError
from agentform.runtime.host.follow import follow
from agentform.runtime.host.memory_routes import memory_routes
from agentform.runtime.host.query import Query
from agentform.runtime.host.records import step_json, task_json
from agentform.runtime.host.schedule_routes import schedule_routes
from agentform.runtime.refusals import RefusalLog
from agentform.runtime.store import TaskRecord, TaskStatus

__all__ = ["build_app", "step_json", "task_json"]

MAX_TASKS = 1000  # tasks in one submit request
MAX_LISTED = 1000  # tasks in one listing
TASK_STATUSES = [s.value for s in TaskStatus]
Handler = Callable[[Request, Caller], Awaitable[Response]]


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def build_app(engine: Engine) -> Starlette:
    def guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def wrapper(request: Request) -> Response:
            caller = await identify(
                engine.token, engine.a2a.tokens, request.headers.get("authorization", "")
            )
            if caller is None:
                return _error(
                    "missing, wrong or revoked token: send the engine's token (engine.token) or"
                    " a live subject token from 'agentform tokens create'",
                    401,
                )
            try:
                return await handler(request, caller)
            except EngineError as exc:
                if exc.status == 403:  # an authenticated caller refused: audited
                    await engine.audit(
                        AuditEvent(
                            "access.refused",
                            caller.subject,
                            data={"method": request.method, "path": request.url.path[:300],
                                  "channel": "api", "reason": str(exc)[:300]},
                        )
                    )  # fmt: skip
                response = _error(str(exc), exc.status)
                if isinstance(exc, RateLimited):
                    response.headers["retry-after"] = str(max(1, round(exc.retry_after)))
                return response

        return wrapper

    async def status(request: Request, caller: Caller) -> Response:
        caller.require_admin(engine, "read the engine's status")
        return JSONResponse(await asyncio.to_thread(engine.status))

    async def resources(request: Request, caller: Caller) -> Response:
        caller.require_admin(engine, "read the resources")
        return JSONResponse({a: engine.observe(a) for a in engine.resources})

    async def put_resource(request: Request, caller: Caller) -> Response:
        caller.require_admin(engine, "change resources")
        body = await json_body(request)
        values = body.get("values")
        if not isinstance(values, dict):
            raise BadRequest('the body must be {"values": {...}}')
        secrets = body.get("secrets") or {}
        if not isinstance(secrets, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in secrets.items()
        ):
            raise BadRequest('"secrets" must map names to string values')
        address = request.path_params["address"]
        observed = await engine.put(address, values, secrets=secrets)
        await engine.audit(
            AuditEvent("resource.applied", caller.subject, data=_run(request, address))
        )
        return JSONResponse(observed)

    async def delete_resource(request: Request, caller: Caller) -> Response:
        caller.require_admin(engine, "delete resources")
        address = request.path_params["address"]
        known = address in engine.resources
        await engine.delete(address)
        if known:
            await engine.audit(
                AuditEvent("resource.deleted", caller.subject, data=_run(request, address))
            )
        return Response(status_code=204)

    async def submit(request: Request, caller: Caller) -> Response:
        body = await json_body(request)
        if "tasks" not in body:
            agent, text, options = _task_request(body, "the task", caller)
            caller.may_invoke(engine, agent)
            await admission.admit(engine, agent, caller.subject, channel="api")
            task = await engine.submit(agent, text, **options)
            return JSONResponse(task_json(task), status_code=202)
        # many tasks in one request: each checked first (a bad one refuses the request), then
        # all submitted at once, so they share the store's transactions and the bus's round
        # trips; each is accepted or refused on its own
        items = body["tasks"]
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_TASKS:
            raise BadRequest(f'"tasks" must be a list of 1 to {MAX_TASKS} tasks')
        requests = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise BadRequest(f"task {index} of the request must be an object")
            requests.append(_task_request(item, f"task {index} of the request", caller))
        for agent in {agent for agent, _, _ in requests}:
            caller.may_invoke(engine, agent)

        async def one(agent: str, text: str, options: dict[str, Any]) -> TaskRecord:
            # each task counts against its agent's rate limit: one refused is a 429 in the list
            await admission.admit(engine, agent, caller.subject, channel="api")
            return await engine.submit(agent, text, **options)

        outcomes = await asyncio.gather(
            *(one(agent, text, options) for agent, text, options in requests),
            return_exceptions=True,
        )
        results: list[dict[str, Any]] = []
        refused: list[int] = []
        for outcome in outcomes:
            if isinstance(outcome, EngineError):
                results.append({"error": str(outcome), "status": outcome.status})
                refused.append(outcome.status)
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                results.append(task_json(outcome))
        # 202 when every task was accepted; else the first refusal's status, with the list
        # saying which were accepted (those stay accepted: retry only the others)
        return JSONResponse({"tasks": results}, status_code=refused[0] if refused else 202)

    async def list_tasks(request: Request, caller: Caller) -> Response:
        query = Query(request.query_params, "agent", "status", "caller", "parent", "limit")
        agent, parent, asked = query.text("agent"), query.text("parent"), query.text("caller")
        status = query.choice("status", TASK_STATUSES)
        limit = query.number("limit", default=50, low=1, high=MAX_LISTED)
        store = _store()
        if not caller.reads_tasks(engine):
            # without read:tasks a subject lists the tasks it sent, and only those
            if asked not in (None, caller.subject):
                raise EngineError(
                    f"{caller.subject!r} may read only the tasks it sent: give it a role with"
                    " read:tasks in the spec's access to read others'",
                    403,
                )
            asked = caller.subject
        tasks = await store.run(
            lambda: store.list_tasks(
                agent=agent,
                status=TaskStatus(status) if status else None,
                parent_id=parent,
                caller=asked,
                limit=limit,
            )
        )
        return JSONResponse([task_json(t) for t in tasks])

    async def _task(caller: Caller, task_id: str) -> TaskRecord:
        """The task, if the caller may see it; one that it may not is not found (404), so a
        subject learns nothing of others' tasks."""
        store = _store()
        task: TaskRecord | None = await store.run(store.get_task, task_id)
        if task is None or not caller.sees(engine, task):
            raise EngineError(f"no task {task_id!r}", 404)
        return task

    async def get_task(request: Request, caller: Caller) -> Response:
        store = _store()
        task = await _task(caller, request.path_params["id"])
        if not caller.reads_traces(engine, task):
            # the record without its steps: those are the trace (read:traces)
            return JSONResponse({**task_json(task), "steps": None})
        steps = await store.run(store.steps, task.id)
        return JSONResponse({**task_json(task), "steps": [step_json(s) for s in steps]})

    async def cancel(request: Request, caller: Caller) -> Response:
        store = _store()
        task_id = request.path_params["id"]
        task = await store.run(store.get_task, task_id)
        # a canceler of the agent may cancel what it cannot read; a reader gets 403
        if task is None or not (caller.sees(engine, task) or caller.cancels(engine, task)):
            return _error(f"no task {task_id!r}", 404)
        caller.may_cancel(engine, task)
        changed = await store.run(
            lambda: store.finish_task(task_id, TaskStatus.CANCELED, error="canceled on request")
        )
        if not changed:
            return _error(f"task {task_id} already ended ({task.status}); nothing to cancel", 409)
        return JSONResponse(task_json(await store.run(store.get_task, task_id)))

    async def reply(request: Request, caller: Caller) -> Response:
        body = await json_body(request)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_BODY:
            raise BadRequest('a reply needs {"text": ANSWER}')
        task = await _task(caller, request.path_params["id"])
        answered = await approvals.answer(engine, task.id, text, subject=caller)
        return JSONResponse(answered.to_dict())

    async def events(request: Request, caller: Caller) -> Response:
        task = await _task(caller, request.path_params["id"])
        if not caller.reads_traces(engine, task):
            raise EngineError(
                f"{caller.subject!r} may not follow the steps of others' tasks: give it a role"
                " with read:traces in the spec's access",
                403,
            )
        return StreamingResponse(follow(engine, task.id), media_type="application/x-ndjson")

    async def logs(request: Request, caller: Caller) -> Response:
        caller.require_admin(engine, "read the agents' logs")
        offset = Query(request.query_params, "offset").number(
            "offset", default=0, low=0, high=logfiles.MAX_OFFSET
        )
        agent = request.path_params["agent"]
        path = engine.files.logs / f"{agent}.log"
        if agent not in engine.groups and not path.exists():
            return _error(f"no agent named {agent!r} runs here", 404)
        data, end = await asyncio.to_thread(logfiles.read_from, path, offset)
        return Response(data, media_type="text/plain", headers={"x-offset": str(end)})

    async def shutdown(request: Request, caller: Caller) -> Response:
        caller.require_admin(engine, "stop the engine")
        asyncio.get_running_loop().call_later(
            0.05, lambda: asyncio.ensure_future(engine.shutdown())
        )
        return JSONResponse({"stopping": True}, status_code=202)

    def _store() -> Any:
        if engine.store is None:
            raise EngineError("no runtime store is set up; run 'agentform apply' first", 409)
        return engine.store

    routes = [
        *token_routes(engine, guarded),
        *approval_routes(engine, guarded),
        Route("/v1/status", guarded(status)),
        Route("/v1/resources", guarded(resources)),
        Route("/v1/resources/{address}", guarded(put_resource), methods=["PUT"]),
        Route("/v1/resources/{address}", guarded(delete_resource), methods=["DELETE"]),
        Route("/v1/tasks", guarded(submit), methods=["POST"]),
        Route("/v1/tasks", guarded(list_tasks), methods=["GET"]),
        Route("/v1/tasks/{id}", guarded(get_task)),
        Route("/v1/tasks/{id}/events", guarded(events)),
        Route("/v1/tasks/{id}/cancel", guarded(cancel), methods=["POST"]),
        Route("/v1/tasks/{id}/reply", guarded(reply), methods=["POST"]),
        Route("/v1/logs/{agent}", guarded(logs)),
        Route("/v1/shutdown", guarded(shutdown), methods=["POST"]),
        *memory_routes(engine, guarded),
        *audit_routes(engine, guarded),
        *schedule_routes(engine, guarded),
    ]
    return Starlette(routes=routes, middleware=[Middleware(RefusalLog, "control API")])


# what apply, destroy, rollback and import say of themselves with each resource change (the
# local provider sends them): recorded with the change in the audit log
_RUN_HEADERS = {
    "x-agentform-operation": "operation",
    "x-agentform-serial": "serial",
    "x-agentform-user": "user",
    "x-agentform-commit": "commit",
}


def _run(request: Request, address: str) -> dict[str, Any]:
    data: dict[str, Any] = {"address": address}
    for header, key in _RUN_HEADERS.items():
        value = request.headers.get(header)
        if value:
            data[key] = value[:200]
    return data


def _task_request(
    body: dict[str, Any], what: str, caller: Caller
) -> tuple[str, str, dict[str, Any]]:
    """Agent, input and the other arguments of :meth:`Engine.submit`, checked."""
    agent, text = body.get("agent"), body.get("input")
    if not isinstance(agent, str) or not isinstance(text, str):
        raise BadRequest(f'{what} needs "agent" and "input" strings')
    inputs = body.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise BadRequest(f'{what}: "inputs" must be an object')
    options = {
        "task_id": opt_str(body, "id", what),
        "context_id": opt_str(body, "context_id", what),
        "inputs": inputs,
        "caller": caller.subject,  # "operator" for the engine's own token
    }
    return agent, text, options
