"""The A2A request handler of one agent: a front door to the same JetStream tasks as ``send``.

Owns :class:`EngineRequestHandler`, the SDK's ``RequestHandler`` for one agent, which the SDK's
JSON-RPC and HTTP+JSON dispatchers call after they have parsed and validated a request. It keeps
no tasks of its own (the SDK's in-memory task store and agent executor would be a second copy
that could disagree with the workers): every task lives in the runtime store and runs on the
agent's workers.

* ``SendMessage`` submits the message's text with :meth:`Engine.submit` under a task id derived
  from (agent, subject, ``messageId``), so a replayed request finds its first task instead of
  making a second; ``contextId`` is the task's conversation. It waits until the task ends or
  needs input, unless the request's ``returnImmediately`` asks for the task as accepted.
* ``SendStreamingMessage`` and ``SubscribeToTask`` relay the recorded steps and status changes
  (read from the store, woken by the workers' NATS announcements) as status and artifact updates.
* ``GetTask``, ``ListTasks`` read the store; ``CancelTask`` finishes the task ``canceled`` (a
  queued task never starts, a running one stops before its next step).

The subject a request acts for is set by :mod:`agentform.runtime.a2a.auth` before it gets here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from typing import Any

from a2a.server.context import ServerCallContext
from a2a.server.events.event_queue import Event
from a2a.server.request_handlers import RequestHandler, validate_request_params
from a2a.types import (
    AgentCard,
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetExtendedAgentCardRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTaskPushNotificationConfigsResponse,
    ListTasksRequest,
    ListTasksResponse,
    Message,
    SendMessageRequest,
    SubscribeToTaskRequest,
    Task,
    TaskPushNotificationConfig,
)
from a2a.utils.constants import DEFAULT_LIST_TASKS_PAGE_SIZE
from a2a.utils.errors import (
    ExtendedAgentCardNotConfiguredError,
    InternalError,
    InvalidParamsError,
    PushNotificationNotSupportedError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from a2a.utils.task import (
    apply_history_length,
    decode_page_token,
    encode_page_token,
    validate_history_length,
    validate_page_size,
)

from agentform.runtime.a2a import mapping
from agentform.runtime.a2a.following import Following, subject_of
from agentform.runtime.a2a.gateway import EngineGateway
from agentform.runtime.errors import EngineError
from agentform.runtime.store import (
    TERMINAL,
    StoreError,
    TaskRecord,
    TaskStatus,
)
from agentform.runtime.store.approvals import Decided

__all__ = ["EngineRequestHandler"]

log = logging.getLogger("agentform.a2a")
MAX_WAIT = 600.0  # a blocking send answers with the task as it is after this many seconds
MAX_ID = 200  # ids and contexts as long as the control API accepts


class EngineRequestHandler(Following, RequestHandler):
    """A2A operations on agent ``agent``'s tasks, for the subject the request authenticated as."""

    def __init__(self, engine: EngineGateway, agent: str) -> None:
        self.engine = engine
        self.agent = agent

    # -- messages ---------------------------------------------------------------------------

    @validate_request_params
    async def on_message_send(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> Task | Message:
        task = await self._submit(params, context)
        if not params.configuration.return_immediately:
            with contextlib.suppress(TimeoutError):
                async with (
                    asyncio.timeout(MAX_WAIT),
                    contextlib.aclosing(self._follow(task.id)) as events,
                ):
                    async for event in events:
                        if isinstance(event, TaskRecord):
                            task = event
        found = mapping.to_task(task)
        validate_history_length(params.configuration)
        return apply_history_length(found, params.configuration)

    @validate_request_params
    async def on_message_send_stream(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event]:
        task = await self._submit(params, context)
        async for event in self._events(task, self._traces(task, context)):
            yield event

    @validate_request_params
    async def on_subscribe_to_task(
        self, params: SubscribeToTaskRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event]:
        task = await self._task(params.id, context)
        if task.status in TERMINAL:
            raise UnsupportedOperationError(
                message=f"task {task.id} already ended ({task.status}); nothing more will"
                " happen to it: get it with GetTask"
            )
        async for event in self._events(task, self._traces(task, context)):
            yield event

    # -- tasks ------------------------------------------------------------------------------

    @validate_request_params
    async def on_get_task(self, params: GetTaskRequest, context: ServerCallContext) -> Task | None:
        validate_history_length(params)
        task = await self._task(params.id, context)
        return apply_history_length(mapping.to_task(task), params)

    @validate_request_params
    async def on_list_tasks(
        self, params: ListTasksRequest, context: ServerCallContext
    ) -> ListTasksResponse:
        size = params.page_size if params.HasField("page_size") else DEFAULT_LIST_TASKS_PAGE_SIZE
        validate_page_size(size)
        validate_history_length(params)
        try:
            offset = int(decode_page_token(params.page_token)) if params.page_token else 0
        except ValueError:
            raise InvalidParamsError(message="the page token is not one this server gave") from None
        status = mapping.BY_STATE.get(params.status) if params.status else None
        if params.status and status is None:
            raise InvalidParamsError(
                message=f"status {params.status!r} is not a task state this server knows; use"
                " one of " + ", ".join(sorted(str(s) for s in mapping.BY_STATE))
            )
        store = self._store()
        context_id = params.context_id or None
        caller = self._readers_only(context)
        rows = await asyncio.to_thread(
            lambda: store.list_tasks(
                agent=self.agent,
                status=status,
                context_id=context_id,
                caller=caller,
                limit=offset + size + 1,
            )
        )
        total = await asyncio.to_thread(
            lambda: store.count_tasks(
                agent=self.agent, status=status, context_id=context_id, caller=caller
            )
        )
        page = rows[offset : offset + size]
        tasks = [apply_history_length(mapping.to_task(t), params) for t in page]
        more = len(rows) > offset + size
        return ListTasksResponse(
            tasks=tasks,
            page_size=size,
            total_size=total,
            next_page_token=encode_page_token(str(offset + size)) if more else "",
        )

    @validate_request_params
    async def on_cancel_task(
        self, params: CancelTaskRequest, context: ServerCallContext
    ) -> Task | None:
        task = await self._task(params.id)
        subject = subject_of(context)
        agent = self.engine.agent(self.agent)
        if task.caller != subject and (agent is None or subject not in agent.cancelers):
            if not self._sees(task, context):  # neither its own nor readable: not there
                raise TaskNotFoundError(message=f"agent {self.agent} has no task {task.id!r}")
            raise InvalidParamsError(
                message=f"{subject!r} may cancel only the tasks it sent: give it a role with"
                f" cancel:{self.agent} to cancel others'"
            )
        store = self._store()
        changed = await asyncio.to_thread(
            lambda: store.finish_task(task.id, TaskStatus.CANCELED, error="canceled over A2A")
        )
        if not changed:
            raise TaskNotCancelableError(
                message=f"task {task.id} already ended ({task.status}); nothing to cancel"
            )
        return mapping.to_task(await self._task(task.id))

    # -- what this server does not offer ----------------------------------------------------

    async def on_create_task_push_notification_config(
        self, params: TaskPushNotificationConfig, context: ServerCallContext
    ) -> TaskPushNotificationConfig:
        raise PushNotificationNotSupportedError

    async def on_get_task_push_notification_config(
        self, params: GetTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> TaskPushNotificationConfig:
        raise PushNotificationNotSupportedError

    async def on_list_task_push_notification_configs(
        self, params: ListTaskPushNotificationConfigsRequest, context: ServerCallContext
    ) -> ListTaskPushNotificationConfigsResponse:
        raise PushNotificationNotSupportedError

    async def on_delete_task_push_notification_config(
        self, params: DeleteTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> None:
        raise PushNotificationNotSupportedError

    async def on_get_extended_agent_card(
        self, params: GetExtendedAgentCardRequest, context: ServerCallContext
    ) -> AgentCard:
        raise ExtendedAgentCardNotConfiguredError

    # -- plumbing ---------------------------------------------------------------------------

    async def _task(self, task_id: str, context: ServerCallContext | None = None) -> TaskRecord:
        """The agent's task ``task_id``, as the caller may see it: a subject without read:tasks
        sees only the tasks it sent (others are not found, as if they did not exist)."""
        store = self._store()
        task = await asyncio.to_thread(store.get_task, task_id) if task_id else None
        if task is None or task.agent != self.agent or not self._sees(task, context):
            raise TaskNotFoundError(message=f"agent {self.agent} has no task {task_id!r}")
        return task

    def _sees(self, task: TaskRecord, context: ServerCallContext | None) -> bool:
        if context is None:
            return True
        subject = subject_of(context)
        agent = self.engine.agent(self.agent)
        return task.caller == subject or (agent is not None and subject in agent.readers)

    def _readers_only(self, context: ServerCallContext) -> str | None:
        """The caller a listing is kept to: None for a subject with read:tasks."""
        subject = subject_of(context)
        agent = self.engine.agent(self.agent)
        return None if agent is not None and subject in agent.readers else subject

    async def _submit(self, params: SendMessageRequest, context: ServerCallContext) -> TaskRecord:
        """The task this message makes: recorded and queued once, however often it is sent."""
        message = params.message
        if message.task_id:
            task = await self._task(message.task_id)  # an approver may answer anyone's task
            if task.status == TaskStatus.INPUT_REQUIRED:
                waiting = await self.engine.waiting_on(task.id)
                if waiting is not None and waiting.kind == "question":
                    return await self._answer(task, params, context)
                return await self._decide(task, params, context)
            raise UnsupportedOperationError(
                message=f"task {task.id} is {task.status} and takes no further messages; send a"
                " new message without taskId (the same contextId continues the conversation)"
            )
        text = "\n".join(p.text for p in message.parts if p.WhichOneof("content") == "text")
        if not text.strip():
            raise InvalidParamsError(message="the message needs at least one non-empty text part")
        if len(message.message_id) > MAX_ID or len(message.context_id) > MAX_ID:
            raise InvalidParamsError(message=f"messageId and contextId are at most {MAX_ID} long")
        inputs: dict[str, Any] = {}
        if "inputs" in params.metadata:
            raw = params.metadata["inputs"]
            if not hasattr(raw, "items"):
                raise InvalidParamsError(message='metadata "inputs" must be an object')
            inputs = {str(k): _plain(v) for k, v in raw.items()}
        subject = subject_of(context)
        agent = self.engine.agent(self.agent)
        if agent is None or subject not in agent.invokers:
            raise InvalidParamsError(
                message=f"{subject!r} may not send tasks to agent {self.agent}: give it a role"
                f" with invoke:{self.agent}"
            )
        task_id = mapping.task_id_for(self.agent, subject, message.message_id)
        store = self._store()
        existing = await asyncio.to_thread(store.get_task, task_id)
        if existing is not None:
            return existing  # a replay: the first request already made this task
        try:
            return await self.engine.submit(
                self.agent,
                text,
                task_id=task_id,
                context_id=message.context_id or None,
                inputs=inputs,
                caller=subject or None,
                channel="a2a",
            )
        except (EngineError, StoreError) as exc:  # the sentence says what to do
            raise InternalError(message=str(exc)) from None

    async def _answer(
        self, task: TaskRecord, params: SendMessageRequest, context: ServerCallContext
    ) -> TaskRecord:
        """A message to a task whose model asked a question (``ask_user``) answers it: its
        text is the answer; only whoever sent the task (or an admin) may."""
        text = "\n".join(p.text for p in params.message.parts if p.WhichOneof("content") == "text")
        try:
            await self.engine.answer_question(task.id, text, subject=subject_of(context))
        except EngineError as exc:
            if exc.status in (400, 403, 404, 409):
                raise InvalidParamsError(message=str(exc)) from None
            raise InternalError(message=str(exc)) from None
        return await self._task(task.id)

    async def _decide(
        self, task: TaskRecord, params: SendMessageRequest, context: ServerCallContext
    ) -> TaskRecord:
        """A message to a task waiting for approval decides it: ``approve`` or ``deny`` as its
        text's first word (the rest is the reason), or metadata ``{"approval": {"decision",
        "reason"}}``; only a subject whose roles grant approve on the holding policy may."""
        text = " ".join(p.text for p in params.message.parts if p.WhichOneof("content") == "text")
        word, _, reason = text.strip().partition(" ")
        if "approval" in params.metadata and hasattr(params.metadata["approval"], "items"):
            given = _plain(params.metadata["approval"])
            word, reason = str(given.get("decision", "")), str(given.get("reason") or "")
        choice = {"approve": "approved", "deny": "denied"}.get(word.lower())
        if choice is None:
            raise InvalidParamsError(
                message=f"task {task.id} waits for approval of a call: answer with 'approve' or"
                " 'deny REASON' ('agentform approvals show' says what it is)"
            )
        subject = context.user.user_name if context.user.is_authenticated else ""
        decision: Decided = "approved" if choice == "approved" else "denied"
        try:
            await self.engine.decide_approval(
                task.id, decision, subject=subject, note=reason.strip()
            )
        except EngineError as exc:
            if exc.status in (403, 404, 409):  # not allowed, or nothing to decide
                raise InvalidParamsError(message=str(exc)) from None
            raise InternalError(message=str(exc)) from None
        return await self._task(task.id)


def _plain(value: Any) -> Any:
    """A protobuf Struct value as plain JSON-able Python."""
    if hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, str | bool | float | int) or value is None:
        return value
    return [_plain(v) for v in value]
