"""Sensitive variables end to end: a real engine, NATS, the toys MCP server, SQLite.

The agent's instructions and its tool's MCP environment use sensitive variables. The model
(scripted) answers one way only when its instructions hold the real value, and echoes them; the
toys server's ``counter`` writes to the file its environment names, whose path is the other
value. After apply and a task, nothing under ``.agentform/`` (state, plan, the engine's files and
logs, the runtime store, NATS) holds either value; the start step records the reference, the
echo is masked; a new value is a change the plan names without printing it, and once applied
the workers use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.project import Project, open_project, wait_for

PIN = "s3cr3t-VALUE-42"
NEW_PIN = "n3w-VALUE-43"
RULES = [
    {
        "match": {"tool_result": ".", "context": r"PIN is s3cr3t-VALUE-42\."},
        "reply": "saw it: {{ context }}",
    },
    {"match": {"tool_result": "."}, "reply": "not that one: {{ context }}"},
    {"match": {"user": "go"}, "call": {"tool": "counter", "arguments": {"label": "here"}}},
]


@pytest.fixture(scope="module")
def keeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, Path]]:
    directory = tmp_path_factory.mktemp("keeper")
    ledger = directory / "ledger-s3cr3t-PATH-7.txt"  # its path is a sensitive value
    with open_project(directory) as project:
        spec: dict[str, Any] = {
            "variables": {
                "pin": {"type": "string", "default": PIN, "sensitive": True},
                "ledger": {"type": "string", "default": str(ledger), "sensitive": True},
            },
            "models": {"script": {"provider": "scripted", "script": "scripts/keeper.yaml"}},
            "tools": {
                "toys": {
                    "mcp": {
                        "command": ["python", "server.py"],
                        "env": {"TOYS_COUNTER_FILE": "${var.ledger}"},
                    },
                    "side_effects": "idempotent",
                    "expose": ["counter"],
                }
            },
            "agents": {
                "keeper": {
                    "model": "script",
                    "instructions": "The PIN is ${var.pin}.",
                    "tools": ["toys"],
                }
            },
        }
        project.write(spec, {"keeper": RULES}, toys=True)
        project.apply()
        project.wait_ready("keeper")
        yield project, ledger


def _rolled_out(project: Project) -> None:
    """Every live worker runs the current configuration: the old ones, with the old value in
    their environment, are gone."""

    def done() -> bool | None:
        for status in project.status()["agents"]:
            alive = [w for w in status["workers"] if w["alive"]]
            if not alive or any(w["config_hash"] != status["config_hash"] for w in alive):
                return None
        return True

    wait_for(done, 60, "the workers to run the new value")


def _holding(directory: Path, *values: str) -> list[str]:
    return [
        str(path)
        for path in sorted(directory.rglob("*"))
        if path.is_file() and any(v.encode() in path.read_bytes() for v in values)
    ]


def test_the_runtime_uses_the_values_and_records_none(keeper: tuple[Project, Path]) -> None:
    project, ledger = keeper
    task = project.submit("keeper", "go", task_id="sensitive-1")
    done = project.wait_task(task["id"])
    assert done["status"] == "completed", done
    # the model matched on the real value in its instructions; its echo was masked
    assert done["result"] == "saw it: The PIN is ${var.pin}."
    # the MCP server found its file where the sensitive path said
    assert ledger.read_text() == "here\n"
    steps = done["steps"]
    assert steps[0]["kind"] == "start"
    assert steps[0]["data"]["instructions"] == "The PIN is ${var.pin}."
    shown = project.cli("tasks", "show", task["id"])
    assert shown.returncode == 0 and "The PIN is ${var.pin}." in shown.stdout
    logs = project.cli("logs", "keeper")
    assert logs.returncode == 0 and "keeper" in logs.stdout, logs.stderr
    state = project.cli("state", "show", "agent.keeper")
    assert "${var.pin}" in state.stdout and "pbkdf2-sha256:" in state.stdout
    for printed in (shown, logs, state):
        assert PIN not in printed.stdout + printed.stderr
        assert str(ledger) not in printed.stdout + printed.stderr
    assert _holding(project.dir / ".agentform", PIN, str(ledger)) == []


def test_a_new_value_is_planned_without_being_shown_and_then_used(
    keeper: tuple[Project, Path],
) -> None:
    project, _ = keeper
    planned = project.cli("plan", "--detailed-exitcode", "--var", f"pin={NEW_PIN}")
    assert planned.returncode == 2, planned.stdout + planned.stderr
    assert "~ agent.keeper  (update in place)" in planned.stdout
    assert "~ sensitive: pin (sensitive value changed)" in planned.stdout
    assert NEW_PIN not in planned.stdout and PIN not in planned.stdout
    applied = project.cli("apply", "--auto-approve", "--var", f"pin={NEW_PIN}")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    _rolled_out(project)
    task = project.submit("keeper", "go", task_id="sensitive-2")
    done = project.wait_task(task["id"])
    # the workers rolled: the model's instructions hold the new value, not the old one
    assert done["result"] == "not that one: The PIN is ${var.pin}."
    assert _holding(project.dir / ".agentform", PIN, NEW_PIN) == []
