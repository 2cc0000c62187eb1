"""The records of the runtime store: task states, tasks, steps, and their JSON columns.

This module owns what a stored task and step look like once read (:class:`TaskRecord`,
:class:`StepRecord`, :class:`TaskStatus`), the error every store operation raises
(:class:`StoreError`), the conversions between rows and records, and the row of a task just
submitted (:func:`new_task`, :func:`new_task_row`). Split from
:mod:`agentform.runtime.store` (which does the reading and writing) and re-exported by it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row

from agentform.runtime.store.ids import new_id
from agentform.runtime.store.tables import utc

__all__ = [
    "TERMINAL",
    "TERMINAL_VALUES",
    "NewStep",
    "StepRecord",
    "StoreError",
    "TaskRecord",
    "TaskStatus",
    "Turn",
    "dumps",
    "loads",
    "new_task",
    "new_task_row",
    "step_from_row",
    "task_from_mapping",
    "task_from_row",
]


class TaskStatus(StrEnum):
    """Where a task is in its life; the values are the A2A task states."""

    SUBMITTED = "submitted"
    WORKING = "working"
    INPUT_REQUIRED = "input-required"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    REJECTED = "rejected"  # refused without being worked on (e.g. a busy conversation)


TERMINAL: frozenset[TaskStatus] = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELED, TaskStatus.REJECTED}
)
TERMINAL_VALUES = sorted(s.value for s in TERMINAL)


class StoreError(Exception):
    """The runtime store could not do what was asked; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """One task as recorded; ``input_tokens``/``output_tokens`` are totals over its steps."""

    id: str
    agent: str
    context_id: str
    input: str
    inputs: dict[str, Any]
    status: TaskStatus
    result: str | None
    error: str | None
    attempts: int
    worker: str | None
    parent_id: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    input_tokens: int
    output_tokens: int
    caller: str | None = None  # who asked: a subject, "operator", "agent:NAME"


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One step of the agent loop: ``kind`` is model, tool_call, tool_result, final, error, note."""

    task_id: str
    seq: int
    kind: str
    data: dict[str, Any]
    input_tokens: int
    output_tokens: int
    latency_ms: float
    created_at: datetime
    # ``data`` as the JSON text the store holds, when the step was just written or read from
    # it (None: not known): announcing a step need not encode it again
    data_json: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class NewStep:
    """A step to record (:meth:`~agentform.runtime.store.RuntimeStore.append_steps`)."""

    seq: int
    kind: str
    data: Mapping[str, Any]
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Turn:
    """What :meth:`~agentform.runtime.store.RuntimeStore.start_turn` found: the task started
    (``task``), or the earlier unfinished task of its conversation it must wait for
    (``blocker``), or neither (the task has ended, or is unknown)."""

    task: TaskRecord | None
    blocker: TaskRecord | None = None


# ASCII escapes keep any string (lone surrogates, NUL) storable in any text column; one encoder
# for every column written (json.dumps builds one per call when given options)
_ENCODER = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def dumps(value: dict[str, Any], what: str) -> str:
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError) as exc:
        raise StoreError(
            f"{what} cannot be stored as JSON ({exc}); pass plain JSON values"
        ) from None


def loads(raw: Any, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise StoreError(
            f"{what} is corrupt in the runtime store ({exc}); it was changed outside agentform"
        ) from None
    if not isinstance(value, dict):
        raise StoreError(f"{what} is corrupt in the runtime store (not a JSON object)")
    return value


def task_from_row(row: Row[Any]) -> TaskRecord:
    return task_from_mapping(row._mapping)


def task_from_mapping(m: Mapping[Any, Any], when: Callable[[Any], datetime] = utc) -> TaskRecord:
    """A task from its column values; ``when`` reads a time column (the database's value)."""
    try:
        status = TaskStatus(m["status"])
    except ValueError:
        raise StoreError(
            f"task {m['id']} has unknown status {m['status']!r} in the runtime store; "
            "it was changed outside agentform"
        ) from None
    return TaskRecord(
        id=m["id"],
        agent=m["agent"],
        context_id=m["context_id"],
        input=m["input"],
        inputs=loads(m["inputs"], f"the inputs of task {m['id']}"),
        status=status,
        result=m["result"],
        error=m["error"],
        attempts=int(m["attempts"]),
        worker=m["worker"],
        parent_id=m["parent_id"],
        created_at=when(m["created_at"]),
        updated_at=when(m["updated_at"]),
        finished_at=None if m["finished_at"] is None else when(m["finished_at"]),
        input_tokens=int(m["input_tokens"]),
        output_tokens=int(m["output_tokens"]),
        caller=m.get("caller"),
    )


def step_from_row(row: Row[Any]) -> StepRecord:
    m = row._mapping
    return StepRecord(
        task_id=m["task_id"],
        seq=int(m["seq"]),
        kind=m["kind"],
        data=loads(m["data"], f"step {m['seq']} of task {m['task_id']}"),
        input_tokens=int(m["input_tokens"]),
        output_tokens=int(m["output_tokens"]),
        latency_ms=float(m["latency_ms"]),
        created_at=utc(m["created_at"]),
        data_json=m["data"],
    )


def new_task(
    id: str,
    agent: str,
    input: str,
    context_id: str | None,
    inputs: Mapping[str, Any] | None,
    parent_id: str | None,
    caller: str | None = None,
) -> dict[str, Any]:
    """The row of a task just submitted (``caller``: who asked for it)."""
    now = datetime.now(UTC)
    return {
        "id": id,
        "agent": agent,
        "context_id": context_id or new_id(),
        "input": input,
        "inputs": dumps(dict(inputs or {}), f"the inputs of task {id}"),
        "status": TaskStatus.SUBMITTED.value,
        "attempts": 0,
        "parent_id": parent_id,
        "created_at": now,
        "updated_at": now,
        "input_tokens": 0,
        "output_tokens": 0,
        "caller": caller,
    }


def new_task_row(id: str, create: Mapping[str, Any]) -> dict[str, Any]:
    """The row of a task published straight to the bus, from its message's values."""
    return new_task(
        id,
        str(create["agent"]),
        str(create["input"]),
        create.get("context_id"),
        create.get("inputs"),
        create.get("parent_id"),
        create.get("caller"),
    )
