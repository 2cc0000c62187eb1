"""``agentform apply`` / ``destroy`` end to end through a provider entry point and real state."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentform import provider as provider_module
from agentform.cli import cli
from agentform.provider import ENTRY_POINT_GROUP, PermanentProviderError, ResourceValue
from agentform.state import open_store
from agentform.testing import FakeProvider
from tests.conftest import BASE_SPEC, WriteSpec

SPEC = BASE_SPEC + "target: {provider: fake}\n"
_PROVIDER: FakeProvider | None = None


def _shared(**config: object) -> FakeProvider:
    """Entry-point target: the provider instance of the running test."""
    assert _PROVIDER is not None
    return _PROVIDER


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    shared = FakeProvider()
    registered = dict(provider_module.available_providers())
    registered["fake"] = EntryPoint("fake", f"{__name__}:_shared", ENTRY_POINT_GROUP)
    monkeypatch.setattr(provider_module, "available_providers", lambda: registered)
    monkeypatch.setattr(f"{__name__}._PROVIDER", shared)
    yield shared


def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--no-color", *args], input=stdin, catch_exceptions=False)
    return result.exit_code, result.output


def serials(base: Path) -> list[int]:
    with open_store(None, "demo", "default", base) as store:
        return [h.serial for h in store.history()]


def test_apply_then_plan_is_empty_then_destroy(
    write_spec: WriteSpec, tmp_path: Path, provider: FakeProvider
) -> None:
    write_spec(SPEC)
    code, out = run("apply", "--auto-approve")
    assert code == 0, out
    assert "+ agent.triage  (create)" in out
    assert "agent.triage done" in out
    assert "Apply complete: 6 created, 0 updated, 0 replaced, 0 destroyed" in out
    assert len(provider.objects) == 6
    assert run("plan", "--detailed-exitcode")[0] == 0
    code, out = run("destroy", "--auto-approve")
    assert code == 1 and "memory.notes" in out and "--allow-data-loss" in out
    code, out = run("destroy", "--auto-approve", "--allow-data-loss")
    assert code == 0, out
    assert provider.objects == {}
    assert run("plan", "--detailed-exitcode")[0] == 2


def test_destroy_refuses_to_drop_stored_memory_saying_what_and_how_to_go_on(
    write_spec: WriteSpec, provider: FakeProvider
) -> None:
    write_spec(
        SPEC.replace(
            "  notes: {kind: session, ttl: 1d}\n",
            "  notes: {kind: session, ttl: 1d}\n  facts: {kind: long_term, scope: customer}\n",
        )
    )
    assert run("apply", "--auto-approve")[0] == 0
    for found in provider.objects.values():
        if found.address == "memory.facts":
            found.values["data"] = {"entries": 42, "bytes": 12_345}
    code, out = run("destroy", "--auto-approve")
    assert code == 1
    # the plan shows the risk, then the refusal (one line) says what would be lost and the ways on
    assert "! high: deleting memory.facts destroys its data (42 entries, 12.3 kB)" in out
    (refusal,) = [line for line in out.splitlines() if line.startswith("error:")]
    assert refusal == (
        "error: the plan would delete memory.notes (session) and its data (how much was not "
        "reported), and delete memory.facts (long_term, scope customer) and its data (42 "
        "entries, 12.3 kB); nothing was changed. To keep a copy, export them first with "
        "'agentform memory export notes --output notes.jsonl' and 'agentform memory export "
        "facts --output facts.jsonl' ('agentform memory import' reads them back), then run "
        "again with --allow-data-loss to go on and delete them."
    )
    assert len(provider.objects) == 7


def test_apply_asks_and_without_a_terminal_needs_auto_approve(
    write_spec: WriteSpec, tmp_path: Path, provider: FakeProvider
) -> None:
    write_spec(SPEC)
    code, out = run("apply")
    assert code == 1
    assert "pass --auto-approve" in out
    assert provider.objects == {}
    assert serials(tmp_path) == []


def test_saved_plan_is_applied_and_refused_once_stale(
    write_spec: WriteSpec, tmp_path: Path, provider: FakeProvider
) -> None:
    write_spec(SPEC)
    assert run("plan", "--out", "first.json")[0] == 0
    assert run("plan", "--out", "second.json")[0] == 0
    code, out = run("apply", "--plan", "first.json")
    assert code == 0, out
    code, out = run("apply", "--plan", "second.json")
    assert code == 1
    assert 'run "agentform plan" again' in out
    assert len(provider.objects) == 6


def test_an_edited_file_the_spec_points_at_is_a_change(
    write_spec: WriteSpec, tmp_path: Path, provider: FakeProvider
) -> None:
    # the rule file (scripts/rules.yaml) and the MCP server's code (kb.py): neither is a value
    # of the spec, yet editing one changes what the agents do
    write_spec(SPEC)
    (tmp_path / "kb.py").write_text("# the kb server\n")
    assert run("apply", "--auto-approve")[0] == 0
    assert run("plan", "--detailed-exitcode")[0] == 0
    (tmp_path / "scripts" / "rules.yaml").write_text("rules: [{reply: hello}]\n")
    (tmp_path / "kb.py").write_text("# the kb server, faster\n")
    code, out = run("plan", "--detailed-exitcode", "--out", "edited.json")
    assert code == 2, out
    assert "~ model.fast  (update in place)" in out
    assert "# script file scripts/rules.yaml changed" in out
    assert "~ files: scripts/rules.yaml (content changed)" in out
    assert "! medium: the rules of model.fast changed" in out
    assert "~ tool.kb  (update in place)" in out
    assert "# server file kb.py changed" in out
    assert "Plan: 0 to add, 2 to change, 0 to replace, 0 to destroy." in out
    # a saved plan holds the content it was made with: an edit after it is refused
    (tmp_path / "kb.py").write_text("# the kb server, edited again\n")
    code, out = run("apply", "--plan", "edited.json")
    assert code == 1
    assert "kb.py changed since edited.json was made" in out
    code, out = run("apply", "--auto-approve")
    assert code == 0, out
    assert "Apply complete: 0 created, 2 updated" in out
    model = next(o for o in provider.objects.values() if o.address == "model.fast")
    assert list(model.values["files"]) == ["scripts/rules.yaml"]
    assert run("plan", "--detailed-exitcode")[0] == 0


def test_a_failed_resource_skips_its_dependants_and_exits_one(
    write_spec: WriteSpec, tmp_path: Path, provider: FakeProvider
) -> None:
    write_spec(SPEC)
    provider.fail_next("model.fast", PermanentProviderError("quota exceeded"))
    code, out = run("apply", "--auto-approve")
    assert code == 1
    assert "model.fast: quota exceeded" in out
    assert "agent.triage: depends on model.fast, which failed" in out
    assert "tool.kb" in {o.address for o in provider.objects.values()}
    code, out = run("apply", "--auto-approve")
    assert code == 0, out
    assert "2 created" in out


def test_import_adopts_an_existing_object(
    write_spec: WriteSpec, tmp_path: Path, provider: FakeProvider
) -> None:
    write_spec(SPEC)
    made = provider.create(ResourceValue.of("tool.kb", {"side_effects": "none"}))
    code, out = run("import", "tool.kb", made.id)
    assert code == 0, out
    assert f"imported {made.id} as tool.kb" in out
    with open_store(None, "demo", "default", tmp_path) as store:
        latest = store.read()
        assert latest is not None and latest.resources["tool.kb"].id == made.id
    assert run("import", "tool.kb", made.id)[1].count("already in the state") == 1
    code, out = run("apply", "--auto-approve")
    assert code == 0, out
    assert sum(1 for o in provider.objects.values() if o.address == "tool.kb") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import", "tool.nope", "x"], "tool.nope is not declared in the spec"),
        (["import", "tool.kb", "no-such-id"], "could not import 'no-such-id'"),
    ],
    ids=["undeclared", "unknown-id"],
)
def test_import_errors(
    write_spec: WriteSpec, provider: FakeProvider, args: list[str], message: str
) -> None:
    write_spec(SPEC)
    code, out = run(*args)
    assert code == 1 and message in out


def test_rollback_returns_to_an_earlier_serial(
    write_spec: WriteSpec, tmp_path: Path, provider: FakeProvider
) -> None:
    write_spec(SPEC)
    assert run("apply", "--auto-approve")[0] == 0
    first = serials(tmp_path)[-1]
    write_spec(SPEC.replace('instructions: "Help {{ customer }}"', 'instructions: "Be brief"'))
    assert run("apply", "--auto-approve")[0] == 0
    triage = next(o for o in provider.objects.values() if o.address == "agent.triage")
    assert triage.values["instructions"] == "Be brief"
    code, out = run("rollback", "--to", str(first), "--auto-approve")
    assert code == 0, out
    assert "~ agent.triage  (update in place)" in out
    triage = next(o for o in provider.objects.values() if o.address == "agent.triage")
    assert triage.values["instructions"] == "Help {{ customer }}"
    code, out = run("rollback", "--to", "999", "--auto-approve")
    assert code == 1 and "there is no state serial 999" in out
