"""Sensitive variables in planning: values carry the reference and a fingerprint, never the
value; a new value is a change the plan names without showing it; the provider is handed the
values, in memory; a saved plan is applied only with the values it was made with."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agentform import provider as provider_module
from agentform.cli import cli
from agentform.plan import Action, make_plan
from agentform.provider import ENTRY_POINT_GROUP, ProviderContext, ResourceValue
from agentform.render import render_plan
from agentform.secrets import fingerprint
from agentform.sensitive import FIELD, with_fingerprints
from agentform.state.snapshot import RecordedResource, empty
from agentform.testing import FakeProvider
from tests.conftest import WriteSpec

VALUE = "s3cr3t-VALUE-42"
OTHER = "0ther-VALUE-7"
SPEC = """\
version: 1
project: demo
target: {provider: fake}
variables:
  pin: {type: string, default: s3cr3t-VALUE-42, sensitive: true}
  company: {default: Acme}
models:
  fast: {provider: scripted, script: scripts/rules.yaml}
tools:
  kb:
    mcp: {command: [python, kb.py], env: {PIN: "${var.pin}"}}
    side_effects: none
agents:
  triage:
    model: fast
    instructions: "You work for ${var.company}. The PIN is ${var.pin}."
    tools: [kb]
access:
  roles:
    users: ["invoke:triage"]
"""
AGENT = ResourceValue.of("agent.triage", {"instructions": "PIN ${var.pin}", "model": "fast"})
MODEL = ResourceValue.of("model.fast", {"provider": "scripted"})


def test_fingerprints_are_added_only_where_sensitive_variables_are_referenced() -> None:
    out = with_fingerprints({r.address: r for r in (AGENT, MODEL)}, {"pin": VALUE}, "demo")
    assert out["model.fast"] is MODEL
    assert out["agent.triage"].values[FIELD] == {"pin": fingerprint(VALUE, "demo")}
    assert out["agent.triage"].values["instructions"] == "PIN ${var.pin}"
    assert VALUE not in repr(out)


def test_a_new_value_is_an_update_that_names_the_variable_not_the_value() -> None:
    before = with_fingerprints({AGENT.address: AGENT}, {"pin": VALUE}, "demo")
    after = with_fingerprints({AGENT.address: AGENT}, {"pin": OTHER}, "demo")
    recorded = RecordedResource(
        kind="agent",
        name="triage",
        provider="fake",
        id="a1",
        values=dict(before[AGENT.address].values),
    )
    state = empty("demo", "default").next({AGENT.address: recorded})
    assert not make_plan(before, state, project="demo", environment="default").has_changes
    plan = make_plan(after, state, project="demo", environment="default")
    [change] = plan.changes
    assert change.action is Action.UPDATE
    assert change.reasons == ("sensitive value of pin changed",)
    text = render_plan(plan)
    assert "~ sensitive: pin (sensitive value changed)" in text
    assert VALUE not in text and OTHER not in text and "pbkdf2" not in text


_MADE: list[ProviderContext] = []
_SHARED: list[FakeProvider] = []


def _fake(context: ProviderContext, **config: Any) -> FakeProvider:
    """Entry-point target: the test's provider, remembering the context it was given."""
    _MADE.append(context)
    return _SHARED[0]


@pytest.fixture
def project(write_spec: WriteSpec, monkeypatch: pytest.MonkeyPatch) -> Path:
    registered = dict(provider_module.available_providers())
    registered["fake"] = EntryPoint("fake", "tests.test_sensitive:_fake", ENTRY_POINT_GROUP)
    monkeypatch.setattr(provider_module, "available_providers", lambda: registered)
    monkeypatch.setattr("tests.test_sensitive._SHARED", [FakeProvider()])
    monkeypatch.setattr("tests.test_sensitive._MADE", [])
    return write_spec(SPEC).parent


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--no-color", *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_plans_show_the_reference_and_never_the_value(project: Path) -> None:
    code, out = run("plan")
    assert code == 0, out
    assert '+ instructions: "You work for Acme. The PIN is ${var.pin}."' in out
    assert "+ sensitive: pin (sensitive value)" in out
    code, printed = run("plan", "--json")
    assert code == 0 and '"pin": "pbkdf2-sha256:' in printed
    assert run("plan", "--out", "saved.plan")[0] == 0
    saved = (project / "saved.plan").read_text()
    assert "${var.pin}" in saved and "pbkdf2-sha256:" in saved
    code, shown = run("show", "saved.plan")
    assert code == 0 and "+ sensitive: pin (sensitive value)" in shown
    assert VALUE not in out + printed + saved + shown


def test_apply_hands_the_values_to_the_provider_and_records_none(project: Path) -> None:
    code, out = run("apply", "--auto-approve")
    assert code == 0, out
    # the provider received the value beside the resources, for the runtime
    assert {dict(c.sensitive)["pin"] for c in _MADE} == {VALUE}
    assert VALUE not in repr(_MADE)
    shown = [run("state", "show", "agent.triage"), run("state", "list"), run("state", "history")]
    assert [code for code, _ in shown] == [0, 0, 0]
    assert all(VALUE not in text for _, text in shown)
    assert "${var.pin}" in shown[0][1] and "pbkdf2-sha256:" in shown[0][1]
    assert _files_holding(project / ".agentform", VALUE) == []
    # a new value: a change the plan names, never shows
    code, out = run("plan", "--detailed-exitcode", "--var", f"pin={OTHER}")
    assert code == 2
    assert "~ sensitive: pin (sensitive value changed)" in out
    assert "Plan: 0 to add, 2 to change" in out
    assert VALUE not in out and OTHER not in out
    assert run("plan", "--detailed-exitcode")[0] == 0


def test_a_saved_plan_is_applied_only_with_the_values_it_was_made_with(project: Path) -> None:
    assert run("plan", "--out", "saved.plan", "--var", f"pin={OTHER}")[0] == 0
    code, out = run("apply", "--plan", "saved.plan", "--auto-approve")
    assert code == 1
    assert "saved.plan was made with another value of the sensitive variable pin" in out
    assert "--var" in out and OTHER not in out and VALUE not in out
    assert _SHARED[0].objects == {}  # refused before anything changed
    code, out = run("apply", "--plan", "saved.plan", "--auto-approve", "--var", f"pin={OTHER}")
    assert code == 0, out
    assert run("plan", "--detailed-exitcode", "--var", f"pin={OTHER}")[0] == 0


def _files_holding(directory: Path, text: str) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]
