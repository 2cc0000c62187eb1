"""The limits an agent and a project declare: an agent's ``limits`` (steps, tool calls, tokens,
cost, time, depth, tasks at once), its ``rate_limit`` and ``circuit_breaker``, and the project's
``limits`` (budgets per project and per caller over a window). Re-exported by
:mod:`agentform.contract.values` with every other resource kind. Pure: imports pydantic, the
``limits`` notation's parser and :mod:`agentform.durations` only."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from agentform.contract.base import Frozen, PositiveInt
from agentform.durations import Duration

__all__ = ["AgentLimits", "Budget", "CircuitBreaker", "ProjectLimits", "Rate", "RateLimit"]


def _rate(text: str | None) -> str | None:
    """A rate such as ``10/minute`` or ``600 per hour`` (the ``limits`` notation)."""
    if text is None:
        return None
    from limits import parse

    try:
        parse(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a rate: write COUNT/PERIOD such as 10/minute, 600/hour or 5/second"
        ) from None
    return text


Rate = Annotated[str, AfterValidator(_rate)]


class RateLimit(Frozen):
    """How often an agent may be sent tasks, counted across every engine and replica."""

    per_caller: Rate | None = Field(
        None, description="Tasks one caller (token subject, operator) may send, e.g. 10/minute."
    )
    total: Rate | None = Field(None, description="Tasks every caller together may send.")


class AgentLimits(Frozen):
    max_steps: PositiveInt | None = None
    max_tool_calls: PositiveInt | None = None
    max_tokens: PositiveInt | None = None
    max_cost_usd: float | None = Field(None, gt=0)
    timeout: Duration | None = None
    max_depth: PositiveInt | None = Field(
        None, description="Maximum delegation depth below this agent."
    )
    max_concurrent_tasks: PositiveInt | None = Field(
        None,
        le=1000,
        description="Tasks one replica works on at the same time (default 64); more wait in "
        "the agent's queue for a free slot.",
    )


class Budget(Frozen):
    """What tasks may spend together in one window of ``limits.window``: model steps, tool
    calls (delegations included), tokens and cost (from the models' pricing)."""

    max_steps: PositiveInt | None = None
    max_tool_calls: PositiveInt | None = None
    max_tokens: PositiveInt | None = None
    max_cost_usd: float | None = Field(None, gt=0)


class ProjectLimits(Frozen):
    """``limits`` at the top of the spec: budgets across tasks, counted across every engine and
    replica in the runtime store, and ceilings on every task of every agent."""

    window: Duration = Field(
        "1d",
        validate_default=True,
        description="The budgets' window: what was spent counts until the window that began"
        " with its first use ends (default 1d).",
    )
    project: Budget | None = Field(
        None, description="What every task of the project together may spend in a window."
    )
    per_caller: Budget | None = Field(
        None,
        description="What the tasks of one caller (a token's subject, the operator, a"
        " schedule) may spend in a window; delegated tasks count for the caller of the task"
        " that started the chain.",
    )
    timeout: Duration | None = Field(
        None,
        description="Wall time of any task, for every agent (an agent's own limits.timeout,"
        " if shorter, wins).",
    )
    max_depth: PositiveInt | None = Field(
        None,
        description="Delegation depth below any task, for every agent (an agent's own"
        " limits.max_depth, if smaller, wins).",
    )


class CircuitBreaker(Frozen):
    """What stops a runaway agent: the same call over and over, a loop of calls, two agents
    handing a task back and forth, or a burst of calls. A trip takes ``on_trip``'s action."""

    max_identical_calls: PositiveInt = Field(
        3,
        description="Trip on the call after this many identical tool calls (same tool, same"
        " arguments) in one task.",
    )
    max_repeated_sequence: PositiveInt = Field(
        3,
        description="Trip when the same sequence of two or more tool calls recurs this many"
        " times in a row in one task (a loop the identical-call count misses).",
    )
    max_ping_pong: PositiveInt = Field(
        1,
        description="Trip a delegation that hands the task back to the agent that delegated to"
        " this one when it makes the chain go back and forth between the two this many times"
        " (default 1: the first hand back).",
    )
    max_calls_per_minute: PositiveInt | None = Field(
        None,
        description="Tool calls (delegations included) the agent may make in a minute, counted"
        " across every replica; the next one trips and opens the breaker for cooldown.",
    )
    cooldown: Duration | None = Field(
        None,
        description="How long a breaker opened by max_calls_per_minute stays open (every tool"
        " call of the agent trips meanwhile) before it closes again. Default: 1m.",
    )
    on_trip: Literal["fail", "ask_human", "fallback_model"] = Field(
        "fail",
        description="What a trip does: fail the task with the reason; ask a human (an approval"
        " request the agent's operators decide; approved, the call is made); or refuse the call"
        " and go on with the next model of the agent's model's fallback chain.",
    )
