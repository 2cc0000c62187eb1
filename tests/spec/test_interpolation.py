"""Spec-time interpolation: ${var}, ${env}, ${secret}; {{ }} untouched; sandboxed; sensitive
variables kept as references where the runtime resolves them."""

from __future__ import annotations

from typing import Any

import pytest

from agentform.spec.interpolation import interpolate, split_template
from agentform.spec.sourcemap import SourceMap

VARS = {"tier": "gold", "replicas": 3, "regions": ["eu", "us"]}
ENV = {"REGION": "eu-west-1"}


def render(value: Any) -> tuple[Any, list[str], dict[str, Any]]:
    out = interpolate({"x": value}, VARS, ENV, SourceMap())
    return out.value["x"], [d.code for d in out.diagnostics], out.secrets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${var.tier}", "gold"),
        ("${var.replicas}", 3),
        ("${var.replicas + 1}", 4),
        ("${var.regions}", ["eu", "us"]),
        ("tier-${var.tier}-${env.REGION}", "tier-gold-eu-west-1"),
        ("${ var.tier | upper }", "GOLD"),
        ("${env.MISSING | default('none')}", "none"),
        ("Hello {{ customer.name }} at ${var.tier}", "Hello {{ customer.name }} at gold"),
        ("{% if x %}{{ y }}{% endif %}", "{% if x %}{{ y }}{% endif %}"),
        ("price $5 ${var.tier}", "price $5 gold"),
        ("literal $${var.tier}", "literal ${var.tier}"),
        ("${ {'a': 1}['a'] }", 1),
    ],
    ids=[
        "string",
        "typed-int",
        "arithmetic",
        "list",
        "concat",
        "filter",
        "env-default",
        "runtime-template-kept",
        "runtime-block-kept",
        "lone-dollar",
        "escape",
        "braces-in-expression",
    ],
)
def test_renders(text: str, expected: Any) -> None:
    value, codes, _ = render(text)
    assert codes == []
    assert value == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("${var.teir}", "AF008"),
        ("${env.NOPE}", "AF008"),
        ("${nothing}", "AF008"),
        ("${var.tier", "AF009"),
        ("${ 1 + }", "AF009"),
        ("${}", "AF009"),
        ("${secret.KEY | upper}", "AF014"),
        ("${var.tier.__class__.__mro__}", "AF009"),
        ("${ ''.__class__.__subclasses__() }", "AF009"),
        ("${ 1 / 0 }", "AF009"),
    ],
    ids=[
        "undefined-var",
        "unset-env",
        "unknown-name",
        "unterminated",
        "syntax",
        "empty",
        "secret-in-expression",
        "dunder-attribute",
        "sandbox-escape",
        "runtime-error",
    ],
)
def test_errors(text: str, code: str) -> None:
    _, codes, _ = render(text)
    assert codes == [code]


def test_undefined_variable_suggests_the_close_name() -> None:
    out = interpolate({"x": "${var.teir}"}, VARS, ENV, SourceMap())
    assert out.diagnostics[0].hint == "did you mean 'tier'?"


def test_secrets_are_references_never_values() -> None:
    env = {"API_KEY": "sk-live-123"}
    out = interpolate(
        {"a": "${secret.API_KEY}", "b": ["Bearer ${secret.API_KEY}"]}, {}, env, SourceMap()
    )
    assert out.value == {"a": "${secret.API_KEY}", "b": ["Bearer ${secret.API_KEY}"]}
    assert "sk-live-123" not in repr(out.value)
    assert out.secrets == {"API_KEY": [("a",), ("b", 0)]}


PIN = {"pin": "s3cr3t-VALUE-42", "tier": "gold"}
INSTRUCTIONS = ("agents", "triage", "instructions")


def render_sensitive(document: dict[str, Any]) -> Any:
    return interpolate(document, PIN, {}, SourceMap(), sensitive=frozenset({"pin"}))


def test_a_sensitive_variable_stays_a_reference_where_the_runtime_resolves_it() -> None:
    doc = {
        "agents": {"triage": {"instructions": "PIN ${var.pin}, tier ${var.tier}"}},
        "tools": {
            "kb": {"mcp": {"env": {"PIN": "${var.pin}"}, "headers": {"X": "k ${ var.pin }"}}},
            "crm": {"a2a": {"headers": {"X": "${var.pin}"}}},
        },
    }
    out = render_sensitive(doc)
    assert out.diagnostics == []
    assert out.value["agents"]["triage"]["instructions"] == "PIN ${var.pin}, tier gold"
    assert out.value["tools"]["kb"]["mcp"] == {
        "env": {"PIN": "${var.pin}"},
        "headers": {"X": "k ${var.pin}"},
    }
    assert "s3cr3t" not in repr(out.value)
    assert sorted(out.sensitive["pin"]) == [
        INSTRUCTIONS,
        ("tools", "crm", "a2a", "headers", "X"),
        ("tools", "kb", "mcp", "env", "PIN"),
        ("tools", "kb", "mcp", "headers", "X"),
    ]


@pytest.mark.parametrize(
    ("path", "text", "summary"),
    [
        (("agents", "triage", "description"), "${var.pin}", "used in agents.triage.description"),
        (("agents", "triage", "replicas"), "${var.pin}", "used in agents.triage.replicas"),
        (("tools", "kb", "mcp", "command"), ["kb", "--pin=${var.pin}"], "mcp.command.1"),
        (("tools", "kb", "mcp", "url"), "http://h/${var.pin}", "used in tools.kb.mcp.url"),
        (("schedules", "daily", "input"), "${var.pin}", "used in schedules.daily.input"),
        (INSTRUCTIONS, "${var.pin | upper}", "inside an expression"),
        (INSTRUCTIONS, "${var['pin']}", "inside an expression"),
        (INSTRUCTIONS, "${var.pin ~ var.tier}", "inside an expression"),
    ],
    ids=["description", "replicas", "command", "url", "schedule", "filter", "item", "concat"],
)
def test_a_sensitive_variable_anywhere_else_is_refused(
    path: tuple[str, ...], text: Any, summary: str
) -> None:
    doc: dict[str, Any] = {}
    node = doc
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = text
    out = render_sensitive(doc)
    [problem] = out.diagnostics
    assert problem.code == "AF014"
    assert summary in problem.summary
    assert "s3cr3t" not in repr(out.value) + problem.summary + str(problem.hint)


def test_no_expression_can_render_a_sensitive_value() -> None:
    out = render_sensitive({"x": "${var | tojson}", "y": "${var.tier}"})
    assert out.diagnostics == []
    assert out.value == {"x": '{"tier": "gold"}', "y": "gold"}


def test_variables_and_environments_sections_are_not_rendered() -> None:
    doc = {
        "variables": {"x": {"default": "${env.NOPE}"}},
        "environments": {"prod": {"agents": {"a": {"instructions": "${var.x}"}}}},
    }
    out = interpolate(doc, {}, {}, SourceMap())
    assert out.diagnostics == []
    assert out.value == doc


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("plain", [(False, "plain")]),
        ("a${b}c", [(False, "a"), (True, "b"), (False, "c")]),
        ("${ '}' }", [(True, " '}' ")]),
        ("$${x}", [(False, "${x}")]),
    ],
    ids=["plain", "middle", "brace-in-quotes", "escape"],
)
def test_split_template(text: str, parts: list[tuple[bool, str]]) -> None:
    assert split_template(text) == parts
