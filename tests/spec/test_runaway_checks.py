"""AF230 and AF231: a circuit breaker validate can tell will not do what it says."""

from __future__ import annotations

import pytest

from agentform.spec import load_spec
from tests.conftest import WriteSpec

HEAD = """\
version: 1
project: demo
models:
  fast: {provider: scripted, script: scripts/rules.yaml}
  backup: {provider: scripted, script: scripts/rules.yaml}
access: {roles: {users: ["invoke:*"]}}
agents:
  triage:
    model: MODEL
    circuit_breaker: BREAKER
"""


def _codes(write_spec: WriteSpec, model: str, breaker: str) -> list[tuple[str, int | None]]:
    text = HEAD.replace("MODEL", model).replace("BREAKER", breaker)
    if model == "chained":
        chained = "  chained: {provider: scripted, script: scripts/rules.yaml, fallback: [backup]}"
        text = text.replace("  backup:", chained + "\n  backup:")
    result = load_spec(write_spec(text), environ={})
    return [
        (d.code, d.location.line if d.location else None)
        for d in result.diagnostics
        if d.code in ("AF230", "AF231")
    ]


@pytest.mark.parametrize(
    ("model", "breaker", "expected"),
    [
        ("fast", "{on_trip: fallback_model}", [("AF230", 10)]),
        ("chained", "{on_trip: fallback_model}", []),
        ("fast", "{on_trip: ask_human}", []),
        ("fast", "{max_calls_per_minute: 30, cooldown: 10s}", [("AF231", 10)]),
        ("fast", "{max_calls_per_minute: 30, cooldown: 1m}", []),
        ("fast", "{cooldown: 10s}", []),  # no call rate: nothing to count over
    ],
    ids=[
        "fallback-without-one",
        "fallback-with-one",
        "ask-human",
        "short-cooldown",
        "minute-cooldown",
        "cooldown-without-rate",
    ],
)
def test_breaker_checks(
    write_spec: WriteSpec, model: str, breaker: str, expected: list[tuple[str, int]]
) -> None:
    found = _codes(write_spec, model, breaker)
    assert [code for code, _ in found] == [code for code, _ in expected]
