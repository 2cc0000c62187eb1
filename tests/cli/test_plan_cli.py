"""``agentform plan`` and ``show``: recorded state, refresh through a provider, JSON, saved
plans and exit codes."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from agentform import provider as provider_module
from agentform.apply import apply_plan
from agentform.cli import cli
from agentform.plan import make_plan
from agentform.provider import ENTRY_POINT_GROUP
from agentform.referenced_files import with_file_fingerprints
from agentform.resources import desired_resources
from agentform.spec import load_spec
from agentform.state import open_store
from agentform.testing import FakeProvider
from tests.conftest import BASE_SPEC, WriteSpec

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--no-color", *args], catch_exceptions=False)
    return result.exit_code, result.output


def apply_spec(base: Path, provider: FakeProvider) -> None:
    result = load_spec(base, environ={})
    assert result.spec is not None
    with open_store(None, "demo", "default", base) as store:
        # as the plan pipeline makes them: with the fingerprints of the files the spec names
        desired = with_file_fingerprints(desired_resources(result.spec), base)
        plan = make_plan(desired, store.read(), project="demo", environment="default")
        assert apply_plan(plan, provider, store).ok


def test_first_plan_creates_everything(write_spec: WriteSpec) -> None:
    write_spec()
    code, out = run("plan", "--no-refresh")
    assert code == 0
    assert "+ agent.triage  (create)" in out
    assert out.rstrip().endswith("Plan: 6 to add, 0 to change, 0 to replace, 0 to destroy.")
    assert run("plan", "--no-refresh", "--detailed-exitcode")[0] == 2


def test_no_changes_after_apply_and_changes_after_an_edit(
    write_spec: WriteSpec, tmp_path: Path
) -> None:
    write_spec()
    apply_spec(tmp_path, FakeProvider())
    code, out = run("plan", "--no-refresh", "--detailed-exitcode")
    assert (code, out) == (0, "No changes. The running system matches the spec.\n")
    write_spec(
        BASE_SPEC.replace(
            'instructions: "Help {{ customer }}"', 'instructions: "Help {{ customer }} politely"'
        )
    )
    code, out = run("plan", "--no-refresh", "--detailed-exitcode")
    assert code == 2
    assert "~ agent.triage  (update in place)" in out
    assert "! medium: instructions of agent.triage changed" in out


def test_json_and_saved_plans(write_spec: WriteSpec, tmp_path: Path) -> None:
    write_spec()
    code, out = run("plan", "--no-refresh", "--json", "--out", "plan.json")
    assert code == 0
    document = json.loads(out)
    schema = json.loads((ROOT / "schemas" / "plan.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(document)
    assert json.loads((tmp_path / "plan.json").read_text()) == document
    code, shown = run("show", "plan.json")
    assert code == 0
    assert shown.startswith("Plan for demo (default), made against no state yet.")
    assert "+ agent.triage  (create)" in shown
    (tmp_path / "broken.json").write_text("{oops")
    code, out = run("show", "broken.json")
    assert code == 1 and "broken.json is not JSON" in out


def test_refresh_needs_a_real_provider(write_spec: WriteSpec) -> None:
    # docker is still an identity-only stub: refreshing through it cannot work
    write_spec(BASE_SPEC + "target: {provider: docker}\n")
    code, out = run("plan")
    assert code == 1
    assert "the docker provider is not implemented in this version" in out
    assert "pass --no-refresh" in out


def test_refresh_through_a_provider_reports_drift(
    write_spec: WriteSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = FakeProvider()
    registered = dict(provider_module.available_providers())
    registered["fake"] = EntryPoint("fake", "tests.cli.test_plan_cli:_shared", ENTRY_POINT_GROUP)
    monkeypatch.setattr(provider_module, "available_providers", lambda: registered)
    monkeypatch.setattr("tests.cli.test_plan_cli._PROVIDER", shared, raising=False)
    write_spec(BASE_SPEC + "target: {provider: fake}\n")
    apply_spec(tmp_path, shared)
    assert run("plan", "--detailed-exitcode")[0] == 0
    tool = next(o for o in shared.list("tool"))
    shared.out_of_band_change(tool.id, {**tool.values, "timeout": "9s"})
    code, out = run("plan", "--detailed-exitcode")
    assert code == 2
    assert "Objects changed outside agentform:\n  ~ tool.kb: timeout" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan", "--no-refresh", "--target", "agent.nope"], "agent.nope"),
        (["plan", "--no-refresh", "--env", "prd"], "the spec is invalid"),
    ],
    ids=["unknown-target", "unknown-environment"],
)
def test_plan_errors(write_spec: WriteSpec, args: list[str], message: str) -> None:
    write_spec()
    code, out = run(*args)
    assert code == 1
    assert message in out
    assert "Traceback" not in out


_PROVIDER: FakeProvider | None = None


def _shared(**config: object) -> FakeProvider:
    """Entry-point target for the refresh test: the test's provider instance."""
    assert _PROVIDER is not None
    return _PROVIDER
