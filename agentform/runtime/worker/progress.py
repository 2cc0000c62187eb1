"""What a task's records say so far, and the limits a next step is checked against.

This module owns :class:`Progress` (the conversation rebuilt from the records, and the counters:
model calls, tool calls, tokens, cost, wall time), :func:`apply_step` (folding one recorded step
into it: replay after a crash and live running share it), :class:`Limits` (an agent's
``limits``) with :func:`check_limits`, and :class:`TaskFailed`. Used by the agent loop
(:mod:`agentform.runtime.worker.loop`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agentform.contract.values import AgentLimits, ProjectLimits
from agentform.runtime.conversation import Message, ModelResponse, ToolCall
from agentform.runtime.policy.filters import blocked_calls
from agentform.runtime.store import NewStep, StepRecord

__all__ = ["Limits", "Progress", "TaskFailed", "account", "apply_step", "check_limits"]


class TaskFailed(Exception):
    """The task cannot finish: a limit, an unknown unsafe outcome, a model that keeps failing."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_steps: int | None = None
    max_tool_calls: int | None = None
    max_tokens: int | None = None
    max_cost_usd: float | None = None  # from the models' pricing; models without one cost 0
    timeout: float | None = None  # seconds of wall time from the task's first start

    @classmethod
    def of(cls, limits: AgentLimits, project: ProjectLimits | None = None) -> Limits:
        """The budgets of an agent's declared ``limits`` (the contract's typed value), under
        the project's ceiling on every task's wall time (``limits.timeout`` at the top)."""
        timeouts = [t.total_seconds() for t in (limits.timeout, project and project.timeout) if t]
        return cls(
            max_steps=limits.max_steps,
            max_tool_calls=limits.max_tool_calls,
            max_tokens=limits.max_tokens,
            max_cost_usd=limits.max_cost_usd,
            timeout=min(timeouts) if timeouts else None,
        )

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Limits:
        """The budgets of ``limits`` written as JSON values (checked by the contract)."""
        return cls.of(AgentLimits.model_validate(values))


@dataclass
class Progress:
    """What the records say so far: the conversation and the counters the limits check."""

    messages: list[Message] = field(default_factory=list)
    seq: int = 0
    model_calls: int = 0
    tool_calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    started: float = 0.0  # epoch seconds of the first start
    waited: float = 0.0  # seconds it waited for humans (approvals, answers): not wall time
    # call id -> seconds waited for humans about it not recorded yet (with its tool_result)
    call_waits: dict[str, float] = field(default_factory=dict)
    pending: list[ToolCall] = field(default_factory=list)  # asked for, no result yet
    called: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # call id -> tool_call
    held: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # call id -> approval step
    blocked: dict[str, str] = field(default_factory=dict)  # call id -> a content filter's refusal
    # every call the model asked for, in order (what circuit breakers look at), and the calls a
    # breaker tripped on (call id -> the trip step); on_fallback: a trip moved the task on to
    # the model's fallback
    calls: list[ToolCall] = field(default_factory=list)
    marks: list[tuple[str, str]] = field(default_factory=list)  # of calls, as a breaker digests
    tripped: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    on_fallback: bool = False
    final: str | None = None
    failed: str | None = None
    # steps taken but not written yet: written with the next step that must be recorded before
    # it is acted on (only the start step waits: it is rebuilt the same way after a crash)
    unwritten: list[NewStep] = field(default_factory=list)


def check_limits(progress: Progress, limits: Limits, *, next_kind: str) -> None:
    """Raise :class:`TaskFailed` if taking a step of ``next_kind`` would break a limit."""
    if (
        next_kind == "model"
        and limits.max_steps is not None
        and progress.model_calls >= limits.max_steps
    ):
        raise TaskFailed(
            f"step limit reached: {progress.model_calls} model calls (max_steps {limits.max_steps})"
        )
    if (
        next_kind == "tool"
        and limits.max_tool_calls is not None
        and progress.tool_calls >= limits.max_tool_calls
    ):
        raise TaskFailed(
            f"tool-call limit reached: {progress.tool_calls} calls"
            f" (max_tool_calls {limits.max_tool_calls})"
        )
    if limits.max_tokens is not None and progress.tokens >= limits.max_tokens:
        raise TaskFailed(
            f"token limit reached: {progress.tokens} tokens (max_tokens {limits.max_tokens})"
        )
    if limits.max_cost_usd is not None and progress.cost_usd >= limits.max_cost_usd:
        raise TaskFailed(
            f"cost limit reached: ${progress.cost_usd:.4f} (max_cost_usd {limits.max_cost_usd:g})"
        )
    if (
        limits.timeout is not None
        and time.time() - progress.started - progress.waited >= limits.timeout
    ):
        raise TaskFailed(f"wall-time limit of {limits.timeout:g}s reached")


def account(progress: Progress, response: ModelResponse) -> None:
    progress.model_calls += 1
    progress.tokens += response.input_tokens + response.output_tokens
    progress.cost_usd += response.cost_usd
    progress.messages.append(response.message)
    progress.pending = list(response.tool_calls)
    progress.calls.extend(response.tool_calls)


def apply_step(progress: Progress, step: StepRecord) -> None:
    """Fold one recorded step into the progress (replay and live share this)."""
    data = step.data
    if step.kind == "start":
        progress.messages.append(Message("system", str(data["instructions"])))
        for earlier in data.get("context") or ():  # history and memories, as recorded
            role = earlier.get("role")
            if role in ("system", "user", "assistant"):
                progress.messages.append(Message(role, str(earlier.get("content", ""))))
        progress.started = float(data.get("started_at") or datetime.now(UTC).timestamp())
    elif step.kind == "model":
        account(progress, ModelResponse.from_dict(data["response"]))
        if data.get("filtered"):  # calls a content filter refused when the answer came
            progress.blocked.update(blocked_calls(data["filtered"]))
    elif step.kind == "tool_call":
        progress.called[str(data["id"])] = data
        progress.tool_calls += 1
    elif step.kind == "approval":
        progress.held[str(data["id"])] = data
    elif step.kind == "trip":
        progress.tripped[str(data["id"])] = data
        if data.get("action") == "fallback_model":
            progress.on_fallback = True
    elif step.kind == "tool_result":
        call_id = str(data["id"])
        progress.waited += float(data.get("waited") or 0.0)
        progress.messages.append(
            Message(
                "tool",
                str(data["content"]),
                tool_call_id=call_id,
                name=str(data["name"]),
                is_error=bool(data["is_error"]),
            )
        )
        progress.pending = [c for c in progress.pending if c.id != call_id]
        progress.called.pop(call_id, None)
    elif step.kind == "final":
        progress.final = str(data["text"])
    elif step.kind == "error":
        progress.failed = str(data.get("reason", "the task failed"))
