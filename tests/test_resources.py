"""Desired resources: one value per spec object, graph order, policies and invokers resolved,
secrets kept."""

from __future__ import annotations

from typing import Any

import pytest

from agentform.graph import build_graph
from agentform.resources import dependencies, desired_resources
from agentform.spec.loader import load_spec
from agentform.spec.models import Spec
from tests.conftest import WriteSpec

SPEC = """\
version: 1
project: desk
models:
  fast: {provider: openai, model: gpt-4o-mini, api_key: "${secret.OPENAI_API_KEY}",
         fallback: [offline]}
  offline: {provider: scripted, script: scripts/rules.yaml}
tools:
  kb: {mcp: {command: [python, kb.py]}, side_effects: none}
  refunds: {mcp: {url: "http://billing:8080/mcp"}, side_effects: idempotent}
memory:
  facts: {kind: long_term, scope: customer, retention: 365d}
agents:
  triage:
    model: fast
    instructions: "Help {{ customer }}"
    tools: [kb]
    memory: [facts]
    delegates: [billing]
  billing: {model: fast, tools: [refunds]}
policies:
  refund-approval: {agents: [billing], tools: [refunds], effect: require_approval,
                    approvers: [lead]}
  read-only: {agents: ["*"], tools: [kb], effect: allow}
access:
  roles:
    lead: ["approve:refund-approval"]
    desk: ["invoke:triage"]
    ops: ["invoke:*"]
    front: ["invoke:tri*", "read:tasks"]
    root: ["admin:*"]
  members: {cy: [lead], ana: [desk], bo: [ops, lead], eve: [front], dee: [root]}
schedules:
  weekly: {cron: "0 9 * * MON", agent: triage, input: "Summarise last week"}
"""


@pytest.fixture
def spec(write_spec: WriteSpec) -> Spec:
    result = load_spec(write_spec(SPEC), environ={})
    assert result.spec is not None, result.diagnostics
    return result.spec


def test_one_resource_per_spec_object_in_graph_order(spec: Spec) -> None:
    desired = desired_resources(spec)
    assert list(desired) == build_graph(spec).order()
    assert sorted(desired) == [
        "agent.billing",
        "agent.triage",
        "memory.facts",
        "model.fast",
        "model.offline",
        "policy.read-only",
        "policy.refund-approval",
        "runtime.bus",
        "runtime.store",
        "schedule.weekly",
        "tool.kb",
        "tool.refunds",
    ]


@pytest.mark.parametrize(
    ("address", "key", "expected"),
    [
        ("memory.facts", "retention", "365d"),
        ("model.fast", "api_key", "${secret.OPENAI_API_KEY}"),
        ("model.fast", "fallback", ["offline"]),
        (
            "tool.refunds",
            "mcp",
            {
                "command": None,
                "env": {},
                "cwd": None,
                "url": "http://billing:8080/mcp",
                "headers": {},
            },
        ),
        ("agent.triage", "policies", ["read-only"]),
        ("agent.billing", "policies", ["read-only", "refund-approval"]),
        ("agent.triage", "instructions", "Help {{ customer }}"),
        ("agent.triage", "invokers", ["ana", "bo", "dee", "eve"]),
        ("agent.billing", "invokers", ["bo", "dee"]),
        ("runtime.bus", "url", "embedded"),
        ("schedule.weekly", "agent", "triage"),
    ],
    ids=[
        "duration-as-text",
        "secret-stays-a-reference",
        "list",
        "nested",
        "policies-resolved",
        "glob-and-named-policies",
        "prompt-template-kept",
        "invokers-by-name-glob-star-and-admin",
        "invokers-only-those-granted",
        "runtime",
        "schedule",
    ],
)
def test_values_are_json_dumps(spec: Spec, address: str, key: str, expected: Any) -> None:
    value = desired_resources(spec)[address]
    assert value.values[key] == expected
    assert (value.kind, value.name) == tuple(address.split(".", 1))


def test_dependencies_from_values_match_the_graph(spec: Spec) -> None:
    graph = build_graph(spec)
    for address, value in desired_resources(spec).items():
        assert dependencies(address, value.values) == graph.depends[address], address


@pytest.mark.parametrize(
    ("address", "values", "expected"),
    [
        ("tool.kb", {}, set()),
        ("memory.m", {"kind": "session"}, {"runtime.store"}),
        ("schedule.s", {"agent": "a"}, {"agent.a"}),
        ("model.m", {"fallback": ["x", "y"]}, {"model.x", "model.y"}),
        (
            "agent.a",
            {"model": "m", "tools": ["t"], "memory": [], "policies": ["p"], "delegates": ["b"]},
            {"runtime.bus", "runtime.store", "model.m", "tool.t", "policy.p"},
        ),
    ],
    ids=["tool", "memory", "schedule", "model-fallback", "agent-without-delegates"],
)
def test_dependencies_of_recorded_values(
    address: str, values: dict[str, Any], expected: set[str]
) -> None:
    assert dependencies(address, values) == expected


@pytest.mark.parametrize(
    ("project", "billing", "expected"),
    [
        (None, None, {"triage": None, "billing": None}),
        ("deny", None, {"triage": "deny", "billing": "deny"}),
        ("deny", "allow", {"triage": "deny", "billing": None}),
        (None, "deny", {"triage": None, "billing": "deny"}),
    ],
    ids=["unset", "project-deny", "agent-overrides", "agent-deny"],
)
def test_default_effect_is_resolved_per_agent_and_written_only_when_it_denies(
    write_spec: WriteSpec, project: str | None, billing: str | None, expected: dict[str, Any]
) -> None:
    text = SPEC
    if project:
        text = text.replace("project: desk\n", f"project: desk\ndefault_effect: {project}\n")
    if billing:
        text = text.replace(
            "billing: {model: fast, tools: [refunds]}",
            f"billing: {{model: fast, tools: [refunds], default_effect: {billing}}}",
        )
    result = load_spec(write_spec(text), environ={})
    assert result.spec is not None, result.diagnostics
    values = desired_resources(result.spec)
    for agent, effect in expected.items():
        assert values[f"agent.{agent}"].values.get("default_effect") == effect


def test_an_environment_can_set_the_default_effect(write_spec: WriteSpec) -> None:
    text = SPEC + "environments:\n  prod: {default_effect: deny}\n"
    for env, expected in ((None, None), ("prod", "deny")):
        result = load_spec(write_spec(text), env=env, environ={})
        assert result.spec is not None, result.diagnostics
        values = desired_resources(result.spec)["agent.triage"].values
        assert values.get("default_effect") == expected


def test_project_wide_grants_and_the_audit_retention_travel_on_the_store(
    write_spec: WriteSpec,
) -> None:
    """What the engine's control API and its audit pruning read, resolved by planning onto
    runtime.store; written only when declared, so other specs keep the values they had."""
    base = (
        "version: 1\nproject: tiny\n"
        "models:\n  m: {provider: scripted, script: scripts/rules.yaml}\n"
        "agents:\n  a: {model: m}\n"
        "access:\n  roles:\n    users: ['invoke:a']\n"
    )
    plain = load_spec(write_spec(base), environ={})
    assert plain.spec is not None, plain.diagnostics
    store = desired_resources(plain.spec)["runtime.store"].values
    assert "grants" not in store and "audit_retention" not in store
    text = (
        base
        + "    auditors: ['read:audit']\n    ops: ['admin:*']\n"
        + "  members: {ann: [auditors], otto: [ops]}\n"
        + "runtime:\n  audit: {retention: 90d}\n"
    )
    result = load_spec(write_spec(text), environ={})
    assert result.spec is not None, result.diagnostics
    store = desired_resources(result.spec)["runtime.store"].values
    assert store["audit_retention"] == "90d"
    assert store["grants"]["read:audit"] == ["ann", "otto"]  # admin:* reads everything
    assert store["grants"]["admin:*"] == ["otto"]
