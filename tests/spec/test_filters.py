"""Content filters in the spec: what validate says about them, with the location of each problem.

One row per rule: a spec with ``filters`` (and the ``triage`` agent of the base spec listing
them) and the diagnostics it must produce, by code, severity, address and the line they point at.
"""

from __future__ import annotations

import time

import pytest

from agentform.graph import build_graph
from agentform.patterns import PatternError, compile_pattern
from agentform.resources import dependencies, desired_resources
from agentform.spec import load_spec
from tests.conftest import BASE_SPEC, WriteSpec

USES = "    memory: [notes]\n"


def _spec(filters: str, uses: str = "[pii]") -> str:
    spec = BASE_SPEC.replace(USES, f"{USES}    filters: {uses}\n")
    return spec + "filters:\n" + filters


def diagnostics(write_spec: WriteSpec, text: str) -> list[tuple[str, str, str | None, int | None]]:
    result = load_spec(write_spec(text), environ={})
    return [
        (d.code, d.severity.value, d.address, d.location.line if d.location else None)
        for d in result.diagnostics
    ]


# the agent lists its filters on line 15; the filters section starts on line 19, pii on 20
CASES = [
    (
        "valid",
        "  pii:\n    detect: [email, credit_card, secret]\n"
        "    patterns: [{name: order-ref, pattern: 'ORD-[0-9]{6}'}]\n    action: redact\n",
        "[pii]",
        [],
    ),
    (
        "pattern-does-not-parse",
        "  pii:\n    action: block\n    patterns:\n      - {name: ref, pattern: 'ORD-([0-9]'}\n",
        "[pii]",
        [("AF220", "error", "filter.pii", 23)],
    ),
    (
        "look-behind-is-not-re2",
        "  pii:\n    action: block\n    patterns:\n      - name: ref\n"
        "        pattern: '(?<=ORD-)[0-9]+'\n",
        "[pii]",
        [("AF220", "error", "filter.pii", 24)],
    ),
    (
        "matches-the-empty-string",
        "  pii:\n    action: flag\n    patterns: [{name: any, pattern: '[0-9]*'}]\n",
        "[pii]",
        [("AF220", "error", "filter.pii", 22)],
    ),
    (
        "detects-nothing",
        "  pii: {action: redact}\n",
        "[pii]",
        [("AF220", "error", "filter.pii", 20)],
    ),
    (
        "pattern-named-like-a-detector",
        "  pii:\n    action: redact\n    patterns: [{name: email, pattern: '[a-z]+@corp'}]\n",
        "[pii]",
        [("AF220", "error", "filter.pii", 22)],
    ),
    (
        "unknown-detector",
        "  pii: {action: redact, detect: [api_key]}\n",
        "[pii]",
        [("AF104", "error", "filter.pii", 20)],
    ),
    (
        "unknown-action",
        "  pii: {action: drop, detect: [email]}\n",
        "[pii]",
        [("AF104", "error", "filter.pii", 20)],
    ),
    (
        "unknown-place",
        "  pii: {action: redact, detect: [email], apply_to: [output]}\n",
        "[pii]",
        [("AF104", "error", "filter.pii", 20)],
    ),
    (
        "unknown-filter",
        "  pii: {action: redact, detect: [email]}\n",
        "[pii, pci]",
        [("AF201", "error", "agent.triage", 15)],
    ),
    (
        "unused-filter",
        "  pii: {action: redact, detect: [email]}\n",
        "[]",
        [("AF215", "warning", "filter.pii", 20)],
    ),
]


@pytest.mark.parametrize(("name", "filters", "uses", "expected"), CASES, ids=[c[0] for c in CASES])
def test_filter_checks(
    write_spec: WriteSpec,
    name: str,
    filters: str,
    uses: str,
    expected: list[tuple[str, str, str | None, int | None]],
) -> None:
    assert diagnostics(write_spec, _spec(filters, uses)) == expected


def test_an_unknown_filter_is_named_with_a_suggestion(write_spec: WriteSpec) -> None:
    text = _spec("  pii: {action: redact, detect: [email]}\n", "[pij]")
    [found] = load_spec(write_spec(text), environ={}).diagnostics
    assert found.summary == "agent 'triage' refers to unknown filter 'pij'"
    assert found.hint is not None and "'pii'" in found.hint


def test_a_bad_pattern_says_why(write_spec: WriteSpec) -> None:
    text = _spec("  pii:\n    action: block\n    patterns: [{name: ref, pattern: '(a)\\1'}]\n")
    [found] = load_spec(write_spec(text), environ={}).diagnostics
    assert "filter 'pii': pattern 'ref' is not a valid RE2 expression" in found.summary
    assert "back-references" in found.summary


def test_a_pattern_that_would_backtrack_runs_in_linear_time() -> None:
    # Python's re takes minutes over this; RE2 a fraction of a millisecond
    compiled = compile_pattern("(a+)+$")
    started = time.perf_counter()
    assert compiled.search("a" * 100_000 + "b") is None
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    "pattern", ["", "x" * 501, "(a", "(?=a)"], ids=["empty", "too-long", "unclosed", "lookahead"]
)
def test_patterns_re2_refuses(pattern: str) -> None:
    with pytest.raises(PatternError):
        compile_pattern(pattern)


def test_a_filter_is_a_resource_its_agents_depend_on(write_spec: WriteSpec) -> None:
    text = _spec("  pii: {action: redact, detect: [email]}\n")
    text = text.replace("access:", "runtime:\n  tasks: {retention: 30d}\naccess:", 1)
    result = load_spec(write_spec(text), environ={})
    assert result.spec is not None and not result.diagnostics
    values = desired_resources(result.spec)
    assert values["filter.pii"].values["action"] == "redact"
    assert values["agent.triage"].values["filters"] == ["pii"]
    assert values["runtime.store"].values["task_retention"] == "30d"
    assert "filter.pii" in build_graph(result.spec).depends["agent.triage"]
    assert "filter.pii" in dependencies("agent.triage", values["agent.triage"].values)
    order = list(values)
    assert order.index("filter.pii") < order.index("agent.triage")


def test_agents_without_filters_keep_the_values_they_had(write_spec: WriteSpec) -> None:
    result = load_spec(write_spec(BASE_SPEC), environ={})
    assert result.spec is not None
    values = desired_resources(result.spec)
    assert "filters" not in values["agent.triage"].values
    assert "task_retention" not in values["runtime.store"].values
