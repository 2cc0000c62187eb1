"""Policies on the tool path, end to end: a real engine, NATS, the toys MCP server, SQLite.

A ``deny`` policy with a condition on the call's arguments refuses the call before it reaches
the server (its counter file never gets the line), the model is told which policy refused it,
and the decision is recorded with the step; an allowed call records its decision and runs.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.runtime.project import Project, open_project, wait_for


@pytest.fixture(scope="module")
def governed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    directory = tmp_path_factory.mktemp("governed")
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
            "agents": {
                "clerk": {
                    "model": "script",
                    "instructions": "Write it down.",
                    "tools": ["ledger"],
                    "limits": {"max_steps": 10},
                },
                # denies what no policy allows: nothing allows the ledger to it
                "locked": {
                    "model": "script",
                    "instructions": "Write it down.",
                    "tools": ["ledger"],
                    "default_effect": "deny",
                    "limits": {"max_steps": 10},
                },
            },
            "policies": {
                "hold-big": {
                    "agents": ["clerk"],
                    "tools": ["ledger"],
                    "effect": "require_approval",
                    "when": "args.label.startswith('big')",
                    "approvers": ["leads"],
                    "approval_timeout": "1h",
                },
                "hold-late": {
                    "agents": ["clerk"],
                    "tools": ["ledger"],
                    "effect": "require_approval",
                    "when": "args.label == 'late'",
                    "approvers": ["leads"],
                    "approval_timeout": "2s",
                },
                "not-for-tester": {
                    "agents": ["clerk"],
                    "tools": ["ledger"],
                    "effect": "deny",
                    "when": "subject == 'tester' and args.label == 'mine'",
                },
                "no-forbidden": {
                    "tools": ["ledger"],
                    "effect": "deny",
                    "when": "args.label == 'forbidden'",
                },
            },
            "access": {
                "roles": {
                    "users": ["invoke:clerk", "invoke:locked"],
                    # an approver reaches the agent's A2A server as anyone does: invoke
                    "leads": ["invoke:clerk", "approve:hold-big", "approve:hold-late"],
                },
                "members": {"tester": ["users"], "lee": ["leads"]},
            },
        }
        scripts = {
            "clerk": [
                {"match": {"tool_result": "not made"}, "reply": "refused: {{ tool_result }}"},
                {"match": {"tool_result": r"^(\d+)$"}, "reply": "written, line {{ match[1] }}"},
                {"call": {"tool": "counter", "arguments": {"label": "{{ user }}"}}},
            ]
        }
        project.write(spec, scripts, toys=True)
        project.apply()
        project.wait_ready("clerk")
        project.wait_ready("locked")
        yield project


def _rolled_out(project: Project) -> None:
    """Every live worker of every agent runs its agent's current configuration (the old ones,
    which still hold the old policies, are gone): a policy may govern several agents."""

    def done() -> bool | None:
        for status in project.status()["agents"]:
            alive = [w for w in status["workers"] if w["alive"]]
            if not alive or any(w["config_hash"] != status["config_hash"] for w in alive):
                return None
        return True

    wait_for(done, 60, "every agent's workers to run the new policies")


def _ledger(project: Project) -> list[str]:
    path = project.dir / "ledger.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_a_call_a_policy_denies_never_reaches_the_tool(governed: Project) -> None:
    before = _ledger(governed)
    task = governed.wait_task(governed.submit("clerk", "forbidden")["id"])
    assert task["status"] == "completed", task
    assert task["result"] == (
        "refused: denied by policy 'no-forbidden' (when args.label == 'forbidden');"
        " the call was not made"
    )
    assert _ledger(governed) == before  # nothing was sent to the server
    steps = governed.task(task["id"])["steps"]
    assert "tool_call" not in [s["kind"] for s in steps]
    [refusal] = [s for s in steps if s["kind"] == "tool_result"]
    assert refusal["data"]["is_error"] is True
    assert refusal["data"]["decision"]["effect"] == "deny"
    assert refusal["data"]["decision"]["policies"] == ["no-forbidden"]


def test_an_allowed_call_runs_once_with_its_decision_recorded(governed: Project) -> None:
    before = _ledger(governed)
    task = governed.wait_task(governed.submit("clerk", "fine")["id"])
    assert task["status"] == "completed", task
    assert _ledger(governed) == [*before, "fine"]
    steps = governed.task(task["id"])["steps"]
    [call] = [s for s in steps if s["kind"] == "tool_call"]
    assert call["data"]["decision"]["effect"] == "allow"
    assert call["data"]["decision"]["policies"] == []


def test_changing_the_policy_rolls_the_worker_and_takes_effect(governed: Project) -> None:
    spec_file = governed.dir / "agentform.yaml"
    text = spec_file.read_text()
    spec_file.write_text(text.replace("args.label == 'forbidden'", "args.label == 'fine'"))
    try:
        governed.apply()
        _rolled_out(governed)
        before = _ledger(governed)
        task = governed.wait_task(governed.submit("clerk", "fine")["id"])
        assert task["result"].startswith("refused: denied by policy 'no-forbidden'"), task
        assert _ledger(governed) == before
    finally:
        spec_file.write_text(text)
        governed.apply()
        _rolled_out(governed)


def test_an_agent_that_denies_by_default_calls_only_what_a_policy_allows(
    governed: Project,
) -> None:
    before = _ledger(governed)
    task = governed.wait_task(governed.submit("locked", "fine")["id"], timeout=60)
    assert task["status"] == "completed", task
    assert task["result"].startswith(
        "refused: denied by the agent's default_effect (deny): no policy allows this call"
    ), task
    assert _ledger(governed) == before


def test_the_worker_receives_the_policies_that_govern_it(governed: Project) -> None:
    configs = list((governed.dir / ".agentform" / "engine" / "workers").glob("*.json"))
    assert configs and all('"no-forbidden"' in c.read_text() for c in configs)


# -- calls held for approval ------------------------------------------------------------------


def _held(project: Project, text: str) -> tuple[str, dict[str, Any]]:
    """Send ``text`` to the clerk and wait until its call is held; the task and its request."""
    task_id = project.submit("clerk", text)["id"]

    def waiting() -> dict[str, Any] | None:
        task = project.task(task_id)
        return task if task["status"] == "input-required" else None

    wait_for(waiting, 30, f"task {task_id} to wait for approval")
    listed = project.cli("approvals", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [request] = [a for a in json.loads(listed.stdout) if a["task_id"] == task_id]
    return task_id, request


def test_a_held_call_waits_for_approval_then_runs_once(governed: Project) -> None:
    before = _ledger(governed)
    task_id, request = _held(governed, "big-1")
    assert request["status"] == "pending" and request["policies"] == ["hold-big"]
    assert request["arguments"] == {"label": "big-1"} and request["approvers"] == ["leads"]
    assert _ledger(governed) == before  # nothing is sent while it waits
    shown = governed.cli("approvals", "show", request["id"])
    assert "hold-big" in shown.stdout and "big-1" in shown.stdout, shown.stdout
    done = governed.cli("approvals", "approve", request["id"], "--reason", "checked the order")
    assert done.returncode == 0, done.stderr
    task = governed.wait_task(task_id)
    assert task["status"] == "completed" and task["result"].startswith("written, line"), task
    assert _ledger(governed) == [*before, "big-1"]  # exactly once
    shown = governed.cli("tasks", "show", task_id)
    assert "held for approval: counter" in shown.stdout, shown.stdout
    assert "[require_approval: hold-big]" in shown.stdout, shown.stdout
    again = governed.cli("approvals", "approve", request["id"])
    assert again.returncode == 1 and "approved already" in again.stderr  # nothing changes
    assert _ledger(governed) == [*before, "big-1"]


def test_a_denied_call_is_refused_and_the_agent_hears_who_and_why(governed: Project) -> None:
    before = _ledger(governed)
    task_id, request = _held(governed, "big-2")
    done = governed.cli("approvals", "deny", request["id"], "--reason", "duplicate order")
    assert done.returncode == 0, done.stderr
    task = governed.wait_task(task_id)
    assert task["result"] == (
        "refused: the call was held by policy hold-big and denied by operator: duplicate order;"
        " it was not made"
    ), task
    assert _ledger(governed) == before


def test_a_held_call_nobody_decides_expires_and_is_refused(governed: Project) -> None:
    before = _ledger(governed)
    task_id = governed.submit("clerk", "late")["id"]
    task = governed.wait_task(task_id, timeout=60)
    assert "before its approval_timeout; it was not made" in task["result"], task
    assert _ledger(governed) == before
    expired = governed.cli("approvals", "list", "--status", "expired", "--json")
    [request] = [a for a in json.loads(expired.stdout) if a["task_id"] == task_id]
    # approving after the timeout changes nothing
    late = governed.cli("approvals", "approve", request["id"])
    assert late.returncode == 1, late.stdout
    assert "expired already" in late.stderr or "already ended" in late.stderr, late.stderr
    assert _ledger(governed) == before


def test_an_approval_given_while_the_worker_is_down_is_applied_when_it_is_back(
    governed: Project,
) -> None:
    before = _ledger(governed)
    task_id, request = _held(governed, "big-3")
    for pid in governed.worker_pids("clerk").values():
        os.kill(pid, signal.SIGKILL)
    done = governed.cli("approvals", "approve", request["id"])
    assert done.returncode == 0, done.stderr
    task = governed.wait_task(task_id, timeout=60)
    assert task["status"] == "completed", task
    assert _ledger(governed) == [*before, "big-3"]


def test_an_approval_given_while_the_bus_is_down_still_wakes_its_task(governed: Project) -> None:
    """Decided while the engine has no bus (its nats-server SIGKILLed, not yet back): the
    engine cannot publish the wake-up, so its supervision pass publishes the task again once
    the bus is back. Before, the task waited in input-required forever (the chaos suite lost
    such tasks)."""
    before = _ledger(governed)
    task_id, request = _held(governed, "big-5")
    os.kill(governed.nats_pid(), signal.SIGKILL)
    wait_for(lambda: not governed.status()["bus"]["connected"], 10, "the engine to lose its bus")
    decided = governed.client.request(
        "POST", f"/v1/approvals/{request['id']}", body={"decision": "approve"}, timeout=60
    )
    assert decided["status"] == "approved", decided
    assert not governed.status()["bus"]["connected"]  # decided before the bus came back
    task = governed.wait_task(task_id, timeout=60)
    assert task["status"] == "completed", task
    assert _ledger(governed) == [*before, "big-5"]


def _a2a(project: Project, subject: str, task_id: str, text: str) -> dict[str, Any]:
    """A message to the waiting task over A2A (raw JSON-RPC, as any outside client sends)."""
    token = project.cli("tokens", "create", subject).stdout.strip()
    url = next(a["a2a"] for a in project.status()["agents"] if a["agent"] == "clerk")
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "SendMessage",
        "params": {
            "message": {
                "role": "ROLE_USER",
                "messageId": f"m-{subject}-{task_id[-6:]}-{text[:4]}",
                "taskId": task_id,
                "parts": [{"text": text}],
            },
            "configuration": {"returnImmediately": True},
        },
    }
    answer: dict[str, Any] = httpx.post(
        url,
        json=body,
        headers={"Authorization": f"Bearer {token}", "A2A-Version": "1.0"},
        timeout=30,
    ).json()
    return answer


def test_an_approver_decides_over_a2a_and_no_one_else_can(governed: Project) -> None:
    before = _ledger(governed)
    task_id, request = _held(governed, "big-5")
    refused = _a2a(governed, "tester", task_id, "approve")
    assert "may not decide calls held by policy hold-big" in refused["error"]["message"], refused
    assert governed.task(task_id)["status"] == "input-required"
    assert _ledger(governed) == before
    accepted = _a2a(governed, "lee", task_id, "approve the customer is right")
    assert "result" in accepted, accepted
    task = governed.wait_task(task_id)
    assert task["status"] == "completed", task
    assert _ledger(governed) == [*before, "big-5"]
    shown = json.loads(governed.cli("approvals", "show", request["id"], "--json").stdout)
    assert (shown["status"], shown["decided_by"], shown["note"]) == (
        "approved",
        "lee",
        "the customer is right",
    )


def _send_a2a(project: Project, subject: str, text: str) -> str:
    token = project.cli("tokens", "create", subject).stdout.strip()
    url = next(a["a2a"] for a in project.status()["agents"] if a["agent"] == "clerk")
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "SendMessage",
        "params": {
            "message": {"role": "ROLE_USER", "messageId": f"m-{text}", "parts": [{"text": text}]},
            "configuration": {"returnImmediately": True},
        },
    }
    answer = httpx.post(
        url, json=body, headers={"Authorization": f"Bearer {token}", "A2A-Version": "1.0"}
    ).json()
    return str(answer["result"]["task"]["id"])


def test_who_asked_is_recorded_and_decides_a_condition(governed: Project) -> None:
    before = _ledger(governed)
    by_operator = governed.wait_task(governed.submit("clerk", "mine")["id"])
    assert by_operator["caller"] == "operator"
    assert by_operator["result"].startswith("written"), by_operator  # the operator may
    by_tester = governed.wait_task(_send_a2a(governed, "tester", "mine"))
    assert by_tester["caller"] == "tester"
    assert by_tester["result"].startswith("refused: denied by policy 'not-for-tester'"), by_tester
    assert _ledger(governed) == [*before, "mine"]
    shown = governed.cli("tasks", "show", by_tester["id"])
    assert "asked by tester" in shown.stdout
