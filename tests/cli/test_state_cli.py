"""``agentform state`` and ``force-unlock`` against a real SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentform.cli import cli
from agentform.state import LockInfo, RecordedResource, empty, open_store
from tests.conftest import WriteSpec


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--no-color", *args], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def recorded(write_spec: WriteSpec, tmp_path: Path) -> Path:
    write_spec()
    with open_store(None, "demo", "default", tmp_path) as store:
        first = empty("demo", "default")
        resources = {
            "agent.triage": RecordedResource(
                kind="agent", name="triage", provider="fake", id="agent-1", values={"model": "fast"}
            ),
            "tool.kb": RecordedResource(kind="tool", name="kb", provider="fake", id="tool-1"),
        }
        store.write(first.next(resources), expected_serial=0)
    return tmp_path


def test_list_show_history(recorded: Path) -> None:
    code, out = run("state", "list")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ["agent.triage", "tool.kb"]
    code, out = run("state", "show", "agent.triage")
    assert code == 0 and json.loads(out)["values"] == {"model": "fast"}
    code, out = run("state", "history")
    assert code == 0 and out.split()[0] == "1" and "2 resources" in out


def test_rm_and_mv_write_new_serials(recorded: Path) -> None:
    assert run("state", "rm", "tool.kb") == (0, "removed 1 resource (state serial 2)\n")
    code, out = run("state", "mv", "agent.triage", "agent.front-desk")
    assert code == 0 and "state serial 3" in out
    with open_store(None, "demo", "default", recorded) as store:
        latest = store.read()
        assert latest is not None and set(latest.resources) == {"agent.front-desk"}
        assert latest.resources["agent.front-desk"].name == "front-desk"
        assert [e.serial for e in store.history()] == [1, 2, 3]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["state", "show", "agent.nope"], "agent.nope is not in the state"),
        (["state", "rm", "tool.kb", "tool.nope"], "not in the state: tool.nope; nothing was"),
        (["state", "mv", "agent.triage", "tool.x"], "use agent.NAME"),
        (["state", "mv", "agent.triage", "tool.kb"], "tool.kb is already in the state"),
        (["force-unlock", "no-such-lock"], "no-such-lock"),
    ],
    ids=["show-missing", "rm-missing", "mv-wrong-kind", "mv-taken", "unlock-unknown"],
)
def test_errors_change_nothing(recorded: Path, args: list[str], message: str) -> None:
    code, out = run(*args)
    assert code == 1
    assert message in out
    with open_store(None, "demo", "default", recorded) as store:
        assert [e.serial for e in store.history()] == [1]


def test_edits_refuse_while_locked_and_force_unlock_releases(recorded: Path) -> None:
    holder = LockInfo.for_this_process("apply")
    with open_store(None, "demo", "default", recorded) as store:
        store._acquire_row(holder)  # a holder that is alive: this very process
    code, out = run("state", "rm", "tool.kb")
    assert code == 1
    assert "state is locked by" in out and "(pid" in out and "apply" in out
    code, out = run("force-unlock", holder.id)
    assert code == 0 and "released the lock held by" in out
    assert run("state", "rm", "tool.kb")[0] == 0


def test_no_state_yet(write_spec: WriteSpec) -> None:
    write_spec()
    assert run("state", "list") == (0, "no state yet for this project in environment 'default'\n")
    assert run("state", "rm", "tool.kb")[0] == 1
