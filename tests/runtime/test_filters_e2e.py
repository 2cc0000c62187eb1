"""Content filters end to end: a real engine, NATS, the toys MCP server, SQLite.

An email in a task's input is redacted before anything keeps it: the answer, the task record
(its input and every step) and the audit log hold ``[REDACTED:email]``, never the address, and
the audit says which filter found what. A secret in an input is refused at once (the task is
``rejected``, naming the filter). A card number in a tool call's arguments is redacted before
the toys server gets the call (its counter file gets the redacted line), or, on an agent whose
filter blocks it, the call is never made and the model hears why.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.runtime.project import Project, open_project

EMAIL = "ada.lovelace@example.com"
CARD = "4111 1111 1111 1111"
KEY = "sk-proj-4f9c2a7b1e8d3c6a5b0f9e8d7c6b5a4f"


@pytest.fixture(scope="module")
def filtered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    directory = tmp_path_factory.mktemp("filtered")
    with open_project(directory) as project:
        spec: dict[str, Any] = {
            "models": {"script": {"provider": "scripted", "script": "scripts/clerk.yaml"}},
            "tools": {
                "ledger": {
                    "mcp": {
                        "command": ["python", "server.py"],
                        "env": {"TOYS_COUNTER_FILE": str(directory / "ledger.txt")},
                    },
                    "side_effects": "idempotent",
                    "expose": ["counter"],
                },
            },
            "filters": {
                "pii": {"detect": ["email"], "action": "redact"},
                "cards": {"detect": ["credit_card"], "action": "redact", "apply_to": ["tool_args"]},
                "no-secrets": {"detect": ["secret"], "action": "block", "apply_to": ["input"]},
                "no-cards": {
                    "detect": ["credit_card"],
                    "action": "block",
                    "apply_to": ["tool_args"],
                },
            },
            "agents": {
                "clerk": {
                    "model": "script",
                    "tools": ["ledger"],
                    "filters": ["pii", "cards"],
                    "limits": {"max_steps": 10},
                },
                "guard": {
                    "model": "script",
                    "tools": ["ledger"],
                    "filters": ["no-secrets", "no-cards"],
                    "limits": {"max_steps": 10},
                },
            },
            "access": {"roles": {"users": ["invoke:*"]}},
        }
        scripts = {
            "clerk": [
                {"match": {"tool_result": "blocked"}, "reply": "refused: {{ tool_result }}"},
                {"match": {"tool_result": r"^(\d+)$"}, "reply": "written, line {{ match[1] }}"},
                {
                    "match": {"user": "^write (.*)$"},
                    "call": {"tool": "counter", "arguments": {"label": "{{ match[1] }}"}},
                },
                {"reply": "noted: {{ user }}"},
            ]
        }
        project.write(spec, scripts, toys=True)
        project.apply()
        project.wait_ready("clerk")
        project.wait_ready("guard")
        yield project


def _ledger(project: Project) -> list[str]:
    path = project.dir / "ledger.txt"
    return path.read_text().splitlines() if path.exists() else []


def _audit(project: Project, task_id: str) -> list[dict[str, Any]]:
    listed = project.cli("audit", "list", "--task", task_id, "--json")
    assert listed.returncode == 0, listed.stderr
    records: list[dict[str, Any]] = json.loads(listed.stdout)
    return records


def test_an_email_in_an_input_is_redacted_in_the_answer_the_record_and_the_audit(
    filtered: Project,
) -> None:
    task = filtered.wait_task(filtered.submit("clerk", f"reach me at {EMAIL}")["id"])
    assert task["status"] == "completed", task
    assert task["result"] == "noted: reach me at [REDACTED:email]"
    shown = filtered.task(task["id"])
    assert shown["input"] == "reach me at [REDACTED:email]"
    assert EMAIL not in json.dumps(shown)  # the input, the answer and every step
    records = _audit(filtered, task["id"])
    assert EMAIL not in json.dumps(records)
    [hit] = [r for r in records if r["kind"] == "filter.hit"]
    assert hit["data"] == {
        "where": "input",
        "filter": "pii",
        "action": "redact",
        "found": {"email": 1},
    }
    assert hit["agent"] == "clerk"
    verified = filtered.cli("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_blocked_input_is_rejected_at_once_naming_the_filter(filtered: Project) -> None:
    task = filtered.wait_task(filtered.submit("guard", f"use the key {KEY}")["id"])
    assert task["status"] == "rejected", task
    assert task["error"] == (
        "the input was blocked by content filter 'no-secrets': it contains secret (1);"
        " the task was not run"
    )
    shown = filtered.task(task["id"])
    assert KEY not in json.dumps(shown) and shown["steps"] == []
    kinds = [r["kind"] for r in _audit(filtered, task["id"])]
    assert sorted(kinds) == ["filter.hit", "task.submitted"]
    sent = filtered.cli("send", "guard", f"the key is {KEY}")
    assert sent.returncode == 1, sent.stdout
    assert "rejected: the input was blocked by content filter 'no-secrets'" in sent.stderr
    assert KEY not in sent.stdout + sent.stderr


def test_a_card_in_a_tool_argument_is_redacted_before_the_server_sees_it(
    filtered: Project,
) -> None:
    before = _ledger(filtered)
    task = filtered.wait_task(filtered.submit("clerk", f"write card {CARD}")["id"])
    assert task["status"] == "completed", task
    assert task["result"].startswith("written, line"), task
    assert _ledger(filtered) == [*before, "card [REDACTED:credit_card]"]
    steps = filtered.task(task["id"])["steps"]
    [call] = [s for s in steps if s["kind"] == "tool_call"]
    assert call["data"]["arguments"] == {"label": "card [REDACTED:credit_card]"}
    # the input itself is not filtered for cards on this agent: only the call's arguments
    [hit] = [r for r in _audit(filtered, task["id"]) if r["kind"] == "filter.hit"]
    assert (hit["data"]["where"], hit["data"]["filter"]) == ("tool_args", "cards")


def test_a_card_in_a_tool_argument_is_blocked_and_the_model_hears_why(filtered: Project) -> None:
    before = _ledger(filtered)
    task = filtered.wait_task(filtered.submit("guard", f"write card {CARD}")["id"])
    assert task["status"] == "completed", task
    assert task["result"] == (
        "refused: the call was blocked by content filter 'no-cards': its arguments contain"
        " credit_card (1); it was not made"
    )
    assert _ledger(filtered) == before  # nothing was sent to the server
    steps = filtered.task(task["id"])["steps"]
    assert "tool_call" not in [s["kind"] for s in steps]
    assert CARD not in json.dumps([s for s in steps if s["kind"] != "start"])
