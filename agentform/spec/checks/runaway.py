"""Checks that an agent's circuit breaker can do what it says (AF230, AF231).

``on_trip: fallback_model`` needs a model with a ``fallback`` to go on with (AF230, an error: the
runtime would fail the task instead); a ``cooldown`` shorter than the minute
``max_calls_per_minute`` counts over closes the breaker while that minute's calls still count, so
it opens again at the next call (AF231, a warning). The runtime side is
:mod:`agentform.runtime.policy.breaker`.
"""

from __future__ import annotations

from datetime import timedelta

from agentform.spec.checks import CheckContext

__all__ = ["CHECKS"]

_WINDOW = timedelta(minutes=1)  # max_calls_per_minute counts calls in fixed one-minute windows


def check_breakers(ctx: CheckContext) -> None:
    spec = ctx.spec
    for name, agent in spec.agents.items():
        breaker = agent.circuit_breaker
        if breaker is None:
            continue
        path = ("agents", name, "circuit_breaker")
        model = spec.models.get(agent.model)
        if breaker.on_trip == "fallback_model" and model is not None and not model.fallback:
            ctx.error(
                "AF230",
                f"agent {name!r} goes on with its model's fallback when its circuit breaker"
                f" trips, but model {agent.model!r} has no fallback",
                (*path, "on_trip"),
                hint=f"add 'fallback: [OTHER_MODEL]' to model {agent.model!r}, or choose"
                " on_trip: fail or ask_human",
            )
        if (
            breaker.cooldown is not None
            and breaker.max_calls_per_minute is not None
            and breaker.cooldown < _WINDOW
        ):
            ctx.warning(
                "AF231",
                f"agent {name!r}'s circuit breaker cools down in"
                f" {breaker.cooldown.total_seconds():g}s, less than the minute"
                " max_calls_per_minute counts over: it closes while that minute's calls still"
                " count, and the next call opens it again",
                (*path, "cooldown"),
                hint="use a cooldown of 1m or more",
            )


CHECKS = [check_breakers]
