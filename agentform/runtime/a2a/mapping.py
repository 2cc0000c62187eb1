"""Runtime records in A2A's words: task states, tasks, messages, artifacts and stream events.

Owns the one translation from the runtime store's records (:class:`~agentform.runtime.store.
TaskRecord`, :class:`~agentform.runtime.store.StepRecord`) to the SDK's protobuf types, and the
deterministic ids that make a replayed A2A request land on the task it created the first time.
Pure; called by :mod:`agentform.runtime.a2a.handler`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from a2a.types import (
    Artifact,
    Message,
    Part,
    Role,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)

from agentform.runtime.store import StepRecord, TaskRecord
from agentform.runtime.store import TaskStatus as Status

__all__ = [
    "STATES",
    "answer_event",
    "state_of",
    "status_event",
    "step_event",
    "task_id_for",
    "to_task",
]

STATES: dict[Status, TaskState] = {
    Status.SUBMITTED: TaskState.TASK_STATE_SUBMITTED,
    Status.WORKING: TaskState.TASK_STATE_WORKING,
    Status.INPUT_REQUIRED: TaskState.TASK_STATE_INPUT_REQUIRED,
    Status.COMPLETED: TaskState.TASK_STATE_COMPLETED,
    Status.FAILED: TaskState.TASK_STATE_FAILED,
    Status.CANCELED: TaskState.TASK_STATE_CANCELED,
    Status.REJECTED: TaskState.TASK_STATE_REJECTED,
}
BY_STATE = {state: status for status, state in STATES.items()}


def task_id_for(agent: str, subject: str, message_id: str) -> str:
    """The task an A2A message creates: the same agent, subject and message id, the same task."""
    digest = hashlib.sha256(f"{agent}\0{subject}\0{message_id}".encode()).hexdigest()
    return f"a2a-{digest[:32]}"


def state_of(task: TaskRecord) -> TaskState:
    return STATES.get(task.status, TaskState.TASK_STATE_UNSPECIFIED)


def _text(text: str, task: TaskRecord, role: Role, suffix: str) -> Message:
    return Message(
        message_id=f"{task.id}-{suffix}",
        context_id=task.context_id,
        task_id=task.id,
        role=role,
        parts=[Part(text=text)],
    )


def _status(task: TaskRecord) -> TaskStatus:
    status = TaskStatus(state=state_of(task))
    said = task.result if task.status == Status.COMPLETED else task.error
    if said:
        status.message.CopyFrom(_text(said, task, Role.ROLE_AGENT, str(task.status)))
    status.timestamp.FromDatetime(task.updated_at)
    return status


def _answer(task: TaskRecord) -> Artifact:
    return Artifact(artifact_id=f"{task.id}-answer", name="answer", parts=[Part(text=task.result)])


def to_task(task: TaskRecord) -> Task:
    """The A2A task for a recorded one: its input in the history, its answer as an artifact."""
    found = Task(id=task.id, context_id=task.context_id, status=_status(task))
    found.history.append(_text(task.input, task, Role.ROLE_USER, "input"))
    if task.status == Status.COMPLETED and task.result is not None:
        found.artifacts.append(_answer(task))
        found.history.append(_text(task.result, task, Role.ROLE_AGENT, "answer"))
    found.metadata.update({"agent": task.agent, "attempts": task.attempts})
    return found


def status_event(task: TaskRecord) -> TaskStatusUpdateEvent:
    return TaskStatusUpdateEvent(task_id=task.id, context_id=task.context_id, status=_status(task))


def answer_event(task: TaskRecord) -> TaskArtifactUpdateEvent:
    return TaskArtifactUpdateEvent(
        task_id=task.id, context_id=task.context_id, artifact=_answer(task), last_chunk=True
    )


def step_event(task: TaskRecord, step: StepRecord) -> TaskStatusUpdateEvent:
    """A recorded step, as a ``working`` update carrying the step in its metadata."""
    record: dict[str, Any] = json.loads(
        json.dumps({"seq": step.seq, "kind": step.kind, "data": step.data}, default=str)
    )
    event = TaskStatusUpdateEvent(
        task_id=task.id,
        context_id=task.context_id,
        status=TaskStatus(state=TaskState.TASK_STATE_WORKING),
    )
    event.status.timestamp.FromDatetime(step.created_at)
    event.metadata.update({"agentform_step": record})
    return event
