"""Held calls on PostgreSQL, end to end: a real engine and NATS with the runtime store (tasks,
steps, approval requests, tokens) on a throwaway PostgreSQL cluster.

The same flows as :mod:`tests.runtime.test_policies` on SQLite, where the backend matters: the
request filed by the worker is read and decided by the engine through another connection, a
decision is a compare-and-set the database arbitrates, and a worker SIGKILLed while its task waits
finds the decision in the database when the task is taken again. An approver decides with the CLI
and its own token (``agentform --token``), as the support-desk example shows.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import (
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
)
from sqlalchemy import create_engine, text

from tests.runtime.project import Project, open_project, wait_for


@pytest.fixture(scope="module")
def on_postgres(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str
) -> Iterator[tuple[Project, dict[str, str]]]:
    name = f"policies_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    directory = tmp_path_factory.mktemp("on-postgres")
    with open_project(directory) as project:
        spec: dict[str, Any] = {
            "runtime": {"store": {"url": url}},
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
                "roles": {"users": ["invoke:clerk"], "leads": ["approve:hold-big"]},
                "members": {"tina": ["users"], "lee": ["leads"]},
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
        tokens = {s: project.cli("tokens", "create", s).stdout.strip() for s in ("tina", "lee")}
        yield project, tokens


def _ledger(project: Project) -> list[str]:
    path = project.dir / "ledger.txt"
    return path.read_text().splitlines() if path.exists() else []


def _held(project: Project, label: str) -> tuple[str, str]:
    task_id = project.submit("clerk", label)["id"]
    wait_for(
        lambda: project.task(task_id)["status"] == "input-required" or None,
        60,
        f"task {task_id} to wait for approval",
    )
    listed = json.loads(project.cli("approvals", "list", "--json").stdout)
    [request] = [a for a in listed if a["task_id"] == task_id]
    return task_id, request["id"]


def test_a_denied_call_never_reaches_the_tool(on_postgres: tuple[Project, dict[str, str]]) -> None:
    project, _ = on_postgres
    before = _ledger(project)
    task = project.wait_task(project.submit("clerk", "huge")["id"])
    assert task["result"].startswith("refused: denied by policy 'no-huge'"), task
    assert _ledger(project) == before


def test_an_approver_token_approves_and_the_call_runs_once(
    on_postgres: tuple[Project, dict[str, str]],
) -> None:
    project, tokens = on_postgres
    before = _ledger(project)
    task_id, request_id = _held(project, "big-pg-1")
    refused = project.cli("--token", tokens["tina"], "approvals", "approve", request_id)
    assert refused.returncode == 1 and "approve:hold-big" in refused.stderr
    done = project.cli("--token", tokens["lee"], "approvals", "approve", request_id)
    assert done.returncode == 0, done.stderr
    assert project.wait_task(task_id)["status"] == "completed"
    assert _ledger(project) == [*before, "big-pg-1"]
    twice = project.cli("--token", tokens["lee"], "approvals", "approve", request_id)
    assert twice.returncode == 1 and "approved already" in twice.stderr
    assert _ledger(project) == [*before, "big-pg-1"]


def test_a_decision_while_the_worker_is_dead_is_applied_once_it_is_back(
    on_postgres: tuple[Project, dict[str, str]],
) -> None:
    project, tokens = on_postgres
    before = _ledger(project)
    task_id, request_id = _held(project, "big-pg-2")
    for pid in project.worker_pids("clerk").values():
        os.kill(pid, signal.SIGKILL)
    done = project.cli("--token", tokens["lee"], "approvals", "deny", request_id, "--reason", "no")
    assert done.returncode == 0, done.stderr
    task = project.wait_task(task_id, timeout=60)
    assert "denied by lee: no" in task["result"], task
    assert _ledger(project) == before


async def _sdk_send(url: str, token: str, request: Any) -> list[Any]:
    """What an outside program sends: the official a2a-sdk client, non-streaming."""
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        client = await create_client(url, ClientConfig(streaming=False, httpx_client=http))
        return [event async for event in client.send_message(request)]


def test_an_approver_decides_with_the_a2a_sdk_client(
    on_postgres: tuple[Project, dict[str, str]],
) -> None:
    project, tokens = on_postgres
    before = _ledger(project)
    task_id, request_id = _held(project, "big-pg-3")
    url = next(a["a2a"] for a in project.status()["agents"] if a["agent"] == "clerk")
    # lee holds approve:hold-big and nothing else: the gate admits an approver's answer
    request = SendMessageRequest(
        message=Message(
            role=Role.ROLE_USER,
            message_id=f"m-{uuid.uuid4().hex[:8]}",
            task_id=task_id,
            parts=[Part(text="approve checked with the customer")],
        ),
        configuration=SendMessageConfiguration(return_immediately=True),
    )
    asyncio.run(_sdk_send(url, tokens["lee"], request))
    assert project.wait_task(task_id)["status"] == "completed"
    assert _ledger(project) == [*before, "big-pg-3"]
    shown = json.loads(project.cli("approvals", "show", request_id, "--json").stdout)
    assert (shown["status"], shown["decided_by"]) == ("approved", "lee")
