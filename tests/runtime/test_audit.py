"""The audit log end to end: a real engine, NATS, SQLite, the toys MCP server and tokens.

A mixed workload (tasks from the operator and over A2A, an allowed call, a denied one, a held
one approved by a subject's token, tokens made and revoked, a refused request) leaves the records
an auditor expects, with who did it; ``agentform audit verify`` holds, and after a row is edited
in the database it fails naming the record; the log is readable only with ``read:audit``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agentform.runtime.host.client import EngineClient, EngineRequestError
from tests.runtime.project import Project, open_project, wait_for


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, dict[str, str]]]:
    directory = tmp_path_factory.mktemp("audited")
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
            },
            "policies": {
                "hold-big": {
                    "tools": ["ledger"],
                    "effect": "require_approval",
                    "when": "args.label.startswith('big')",
                    "approvers": ["leads"],
                },
                "no-huge": {"tools": ["ledger"], "effect": "deny", "when": "args.label == 'huge'"},
            },
            "access": {
                "roles": {
                    "users": ["invoke:clerk"],
                    "leads": ["approve:hold-big"],
                    "auditors": ["read:audit"],
                },
                "members": {"tina": ["users"], "lee": ["leads"], "aud": ["auditors"]},
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
        tokens = {
            s: project.cli("tokens", "create", s).stdout.strip() for s in ("tina", "lee", "aud")
        }
        yield project, tokens


def _records(project: Project, *args: str) -> list[dict[str, Any]]:
    listed = project.cli("audit", "list", "--limit", "1000", "--json", *args)
    assert listed.returncode == 0, listed.stderr
    found: list[dict[str, Any]] = json.loads(listed.stdout)
    return found


def test_a_mixed_workload_is_audited_and_the_chain_holds(
    audited: tuple[Project, dict[str, str]],
) -> None:
    project, tokens = audited
    allowed = project.wait_task(project.submit("clerk", "small")["id"])
    denied = project.wait_task(project.submit("clerk", "huge")["id"])
    tina = EngineClient(project.client.dir, token=tokens["tina"])
    held = tina.request("POST", "/v1/tasks", body={"agent": "clerk", "input": "big-1"})["id"]
    wait_for(lambda: project.task(held)["status"] == "input-required" or None, 60, "the hold")
    [request] = [a for a in project.client.request("GET", "/v1/approvals") if a["task_id"] == held]
    done = project.cli(
        "--token", tokens["lee"], "approvals", "approve", request["id"], "--reason", "ok"
    )
    assert done.returncode == 0, done.stderr
    project.wait_task(held)
    with pytest.raises(EngineRequestError):  # tina may not read the engine's status: refused
        tina.request("GET", "/v1/status")
    project.cli("tokens", "create", "temp")
    project.cli("tokens", "revoke", "temp")

    records = _records(project)
    kinds = [(r["kind"], r["actor"], r["task"]) for r in records]
    assert ("task.submitted", "operator", allowed["id"]) in kinds
    assert ("task.submitted", "tina", held) in kinds
    assert ("tool.call", "agent:clerk", allowed["id"]) in kinds
    assert ("policy.denied", "agent:clerk", denied["id"]) in kinds
    assert ("approval.requested", "agent:clerk", held) in kinds
    assert ("approval.decided", "lee", held) in kinds
    assert not [k for k in kinds if k[0] == "task.ended"]  # the task's record says how it ended
    assert ("access.refused", "tina", None) in kinds
    assert ("token.created", "operator", None) in kinds and (
        "token.revoked",
        "operator",
        None,
    ) in kinds
    [applied] = [
        r for r in records
        if r["kind"] == "resource.applied" and r["data"]["address"] == "agent.clerk"
    ]  # fmt: skip
    # apply says what it is part of: the operation, the state serial it writes, who ran it
    assert applied["data"]["operation"] == "apply" and applied["data"]["serial"] == "1"
    assert applied["data"]["user"] and applied["actor"] == "operator"
    decided = next(r for r in records if r["kind"] == "approval.decided")
    assert decided["data"]["decision"] == "approved" and decided["data"]["note"] == "ok"
    submitted = next(r for r in records if r["kind"] == "task.submitted" and r["task"] == held)
    assert submitted["data"]["channel"] == "api"
    # filters
    assert {r["task"] for r in _records(project, "--task", denied["id"])} == {denied["id"]}
    assert {r["kind"] for r in _records(project, "--kind", "approval")} == {
        "approval.requested",
        "approval.decided",
    }
    assert {r["actor"] for r in _records(project, "--caller", "lee")} == {"lee"}
    verified = project.cli("audit", "verify")
    assert verified.returncode == 0 and "chain intact" in verified.stdout, verified.stderr
    exported = project.cli("audit", "export")
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [r["seq"] for r in lines] == list(range(1, len(lines) + 1))
    assert len(lines) >= len(records)


def test_read_audit_is_needed_to_read_it(audited: tuple[Project, dict[str, str]]) -> None:
    project, tokens = audited
    refused = project.cli("--token", tokens["tina"], "audit", "list")
    assert refused.returncode == 1 and "read:audit" in refused.stderr
    assert project.cli("--token", tokens["lee"], "audit", "verify").returncode == 1
    mine = project.cli("--token", tokens["aud"], "audit", "list", "--json")
    assert mine.returncode == 0 and json.loads(mine.stdout), mine.stderr
    api = project.engine_info()["api"]
    bad = httpx.get(
        f"{api}/v1/audit", params={"limit": "abc"},
        headers={"authorization": f"Bearer {tokens['aud']}"}, timeout=10,
    )  # fmt: skip
    assert bad.status_code == 400 and "limit" in bad.json()["error"]


def test_an_edited_record_is_reported_by_verify(audited: tuple[Project, dict[str, str]]) -> None:
    project, _ = audited
    records = _records(project, "--kind", "tool.call")
    target = records[-1]["seq"]
    with sqlite3.connect(project.dir / ".agentform" / "runtime.db") as db:
        db.execute("UPDATE agentform_audit SET actor = 'nobody' WHERE seq = ?", (target,))
    broken = project.cli("audit", "verify")
    assert broken.returncode == 1, broken.stdout
    assert f"broken at record {target}" in broken.stderr
