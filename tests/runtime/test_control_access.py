"""Every access permission on the engine's control API, tried from the attacker's side.

A real engine, NATS, SQLite and the toys MCP server. Each subject holds one permission and
sends its own bearer token (from ``agentform tokens create``) to the control API, as
``agentform --token`` does: what the permission opens works, everything else is refused (401
without a live token, 403 naming the permission to grant, 404 for a task it may not see) and
changes nothing. The operator's engine token stays all-powerful.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agentform.runtime.host.client import EngineClient, EngineRequestError
from tests.runtime.project import Project, open_project, wait_for

SUBJECTS = {
    "tina": ["users"],  # invoke:clerk
    "lee": ["leads"],  # invoke:clerk, approve:hold-big
    "rita": ["readers"],  # read:tasks
    "tracy": ["readers", "tracers"],  # read:tasks, read:traces
    "carl": ["cancelers"],  # cancel:clerk
    "ada": ["admins"],  # admin:*
    "mia": ["memoirs"],  # read:memory
}


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, dict[str, str]]]:
    directory = tmp_path_factory.mktemp("guarded")
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
            "memory": {"facts": {"kind": "long_term", "scope": "global"}},
            "agents": {
                "clerk": {
                    "model": "script",
                    "instructions": "Write it down.",
                    "tools": ["ledger"],
                    "memory": ["facts"],
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
            },
            "access": {
                "roles": {
                    "users": ["invoke:clerk"],
                    "leads": ["invoke:clerk", "approve:hold-big"],
                    "readers": ["read:tasks"],
                    "tracers": ["read:traces"],
                    "cancelers": ["cancel:clerk"],
                    "admins": ["admin:*"],
                    "memoirs": ["read:memory"],
                },
                "members": SUBJECTS,
            },
        }
        scripts = {
            "clerk": [
                {"match": {"tool_result": r"^(\d+)$"}, "reply": "written, line {{ match[1] }}"},
                {"call": {"tool": "counter", "arguments": {"label": "{{ user }}"}}},
            ]
        }
        project.write(spec, scripts, toys=True)
        project.apply()
        project.wait_ready("clerk")
        tokens = {}
        for subject in SUBJECTS:
            made = project.cli("tokens", "create", subject)
            assert made.returncode == 0, made.stderr
            tokens[subject] = made.stdout.strip()
        yield project, tokens


def _as(project: Project, token: str) -> EngineClient:
    return EngineClient(project.client.dir, token=token)


def _refused(call: Any) -> EngineRequestError:
    with pytest.raises(EngineRequestError) as refused:
        call()
    return refused.value


def _ledger(project: Project) -> list[str]:
    path = project.dir / "ledger.txt"
    return path.read_text().splitlines() if path.exists() else []


def _held(project: Project, client: EngineClient, label: str) -> tuple[str, str]:
    """A task of ``client``'s whose call waits for approval: (task id, request id)."""
    task_id = client.request("POST", "/v1/tasks", body={"agent": "clerk", "input": label})["id"]
    wait_for(
        lambda: project.task(task_id)["status"] == "input-required" or None,
        60,
        f"task {task_id} to wait for approval",
    )
    pending = project.client.request("GET", "/v1/approvals", params={"status": "pending"})
    [request] = [a for a in pending if a["task_id"] == task_id]
    return task_id, request["id"]


def test_without_a_live_token_every_route_is_401(guarded: tuple[Project, dict[str, str]]) -> None:
    project, tokens = guarded
    api = project.engine_info()["api"]
    routes = [
        ("GET", "/v1/status"),
        ("GET", "/v1/tasks"),
        ("POST", "/v1/tasks"),
        ("GET", "/v1/approvals"),
        ("POST", "/v1/tokens"),
        ("POST", "/v1/shutdown"),
    ]
    for headers in ({}, {"authorization": "Bearer forged"}, {"authorization": tokens["ada"]}):
        for method, path in routes:
            answer = httpx.request(method, api + path, headers=headers, json={}, timeout=10)
            assert answer.status_code == 401, (method, path, headers, answer.text)
    revoked = project.cli("tokens", "create", "tina").stdout.strip()
    assert _as(project, revoked).request("GET", "/v1/tasks") is not None
    project.cli("tokens", "revoke", "tina")
    assert _refused(lambda: _as(project, revoked).request("GET", "/v1/tasks")).status == 401
    # a fresh token for the other tests (revoke took every token of tina)
    tokens["tina"] = project.cli("tokens", "create", "tina").stdout.strip()
    assert project.status()["agents"]  # the operator's token still works


def test_an_invoker_sends_and_sees_only_its_own_tasks(
    guarded: tuple[Project, dict[str, str]],
) -> None:
    project, tokens = guarded
    tina = _as(project, tokens["tina"])
    mine = tina.request("POST", "/v1/tasks", body={"agent": "clerk", "input": "tina-1"})
    assert mine["caller"] == "tina"

    def finished() -> dict[str, Any] | None:
        found: dict[str, Any] = tina.request("GET", f"/v1/tasks/{mine['id']}")
        return found if found["status"] == "completed" else None

    done = wait_for(finished, 30, "tina's task")
    assert [s["kind"] for s in done["steps"]].count("tool_call") == 1  # its own trace
    theirs = project.wait_task(project.submit("clerk", "operator-1")["id"])
    assert _refused(lambda: tina.request("GET", f"/v1/tasks/{theirs['id']}")).status == 404
    assert _refused(lambda: tina.request("POST", f"/v1/tasks/{theirs['id']}/cancel")).status == 404
    listed = tina.request("GET", "/v1/tasks", params={"limit": 500})
    assert listed and {t["caller"] for t in listed} == {"tina"}
    other = _refused(lambda: tina.request("GET", "/v1/tasks", params={"caller": "operator"}))
    assert other.status == 403 and "read:tasks" in str(other)
    for method, path, body in (
        ("GET", "/v1/status", None),
        ("GET", "/v1/resources", None),
        ("PUT", "/v1/resources/agent.clerk", {"values": {}}),
        ("POST", "/v1/tokens", {"subject": "tina"}),
        ("GET", "/v1/tokens", None),
        ("GET", "/v1/logs/clerk", None),
        ("POST", "/v1/shutdown", None),
    ):
        refused = _refused(lambda m=method, p=path, b=body: tina.request(m, p, body=b))
        assert refused.status == 403 and "admin:*" in str(refused), (path, refused)
    assert project.status()["agents"]  # still running: the shutdown was refused


def test_a_subject_without_invoke_cannot_send(guarded: tuple[Project, dict[str, str]]) -> None:
    project, tokens = guarded
    before = _ledger(project)
    for subject in ("rita", "carl"):
        client = _as(project, tokens[subject])
        refused = _refused(
            lambda c=client: c.request("POST", "/v1/tasks", body={"agent": "clerk", "input": "x"})
        )
        assert refused.status == 403 and "invoke:clerk" in str(refused)
        many = {"tasks": [{"agent": "clerk", "input": "y"}]}
        assert (
            _refused(lambda c=client, b=many: c.request("POST", "/v1/tasks", body=b)).status == 403
        )
    assert _ledger(project) == before


def test_read_tasks_reads_every_task_and_read_traces_their_steps(
    guarded: tuple[Project, dict[str, str]],
) -> None:
    project, tokens = guarded
    task = project.wait_task(project.submit("clerk", "operator-2")["id"])
    rita, tracy = _as(project, tokens["rita"]), _as(project, tokens["tracy"])
    seen = rita.request("GET", f"/v1/tasks/{task['id']}")
    assert seen["result"] == task["result"] and seen["steps"] is None  # no read:traces
    refused = _refused(lambda: list(rita.events(task["id"], timeout=10)))
    assert refused.status == 403 and "read:traces" in str(refused)
    assert task["id"] in [t["id"] for t in rita.request("GET", "/v1/tasks", params={"limit": 500})]
    traced = tracy.request("GET", f"/v1/tasks/{task['id']}")
    assert [s["kind"] for s in traced["steps"]].count("tool_result") == 1
    assert list(tracy.events(task["id"], timeout=10))[-1]["kind"] == "status"
    assert _refused(lambda: rita.request("POST", f"/v1/tasks/{task['id']}/cancel")).status == 403


def test_cancel_cancels_tasks_of_its_agent(guarded: tuple[Project, dict[str, str]]) -> None:
    project, tokens = guarded
    task_id, _ = _held(project, project.client, "big-cancel")
    tina = _as(project, tokens["tina"])
    assert _refused(lambda: tina.request("POST", f"/v1/tasks/{task_id}/cancel")).status == 404
    assert project.task(task_id)["status"] == "input-required"
    canceled = _as(project, tokens["carl"]).request("POST", f"/v1/tasks/{task_id}/cancel")
    assert canceled["status"] == "canceled"
    # an approval for a task that ended changes nothing
    [request] = [
        a for a in project.client.request("GET", "/v1/approvals") if a["task_id"] == task_id
    ]
    late = _refused(
        lambda: _as(project, tokens["lee"]).request(
            "POST", f"/v1/approvals/{request['id']}", body={"decision": "approve"}
        )
    )
    assert late.status == 409 and "already ended (canceled)" in str(late)
    assert project.client.request("GET", f"/v1/approvals/{request['id']}")["status"] == "pending"
    assert project.task(task_id)["status"] == "canceled"


def test_approve_decides_the_calls_of_its_policy_and_no_one_else_can(
    guarded: tuple[Project, dict[str, str]],
) -> None:
    project, tokens = guarded
    before = _ledger(project)
    task_id, request_id = _held(project, _as(project, tokens["tina"]), "big-7")
    tina, lee = _as(project, tokens["tina"]), _as(project, tokens["lee"])
    # the invoker who asked may not approve its own held call
    assert tina.request("GET", "/v1/approvals") == []
    assert _refused(lambda: tina.request("GET", f"/v1/approvals/{request_id}")).status == 404
    refused = _refused(
        lambda: tina.request("POST", f"/v1/approvals/{request_id}", body={"decision": "approve"})
    )
    assert refused.status == 403 and "approve:hold-big" in str(refused)
    assert project.task(task_id)["status"] == "input-required" and _ledger(project) == before
    assert request_id in [a["id"] for a in lee.request("GET", "/v1/approvals")]
    decided = lee.request(
        "POST", f"/v1/approvals/{request_id}", body={"decision": "approve", "reason": "ok"}
    )
    assert (decided["status"], decided["decided_by"]) == ("approved", "lee")
    assert project.wait_task(task_id)["status"] == "completed"
    assert _ledger(project) == [*before, "big-7"]


def test_admin_may_do_what_the_operator_does(guarded: tuple[Project, dict[str, str]]) -> None:
    project, tokens = guarded
    ada = _as(project, tokens["ada"])
    assert [a["agent"] for a in ada.request("GET", "/v1/status")["agents"]] == ["clerk"]
    assert "tina" in [t["subject"] for t in ada.request("GET", "/v1/tokens")]
    task = ada.request("POST", "/v1/tasks", body={"agent": "clerk", "input": "ada-1"})
    assert task["caller"] == "ada"
    operator_task = project.wait_task(project.submit("clerk", "operator-3")["id"])
    assert ada.request("GET", f"/v1/tasks/{operator_task['id']}")["steps"]


def test_the_cli_acts_as_the_token_subject(guarded: tuple[Project, dict[str, str]]) -> None:
    project, tokens = guarded
    before = _ledger(project)
    task_id, request_id = _held(project, project.client, "big-8")
    refused = project.cli("--token", tokens["tina"], "approvals", "approve", request_id)
    assert refused.returncode == 1 and "approve:hold-big" in refused.stderr, refused.stderr
    done = project.cli("--token", tokens["lee"], "approvals", "approve", request_id)
    assert done.returncode == 0, done.stderr
    assert project.wait_task(task_id)["status"] == "completed"
    assert _ledger(project) == [*before, "big-8"]
    shown = json.loads(project.cli("approvals", "show", request_id, "--json").stdout)
    assert shown["decided_by"] == "lee"


def test_read_memory_reads_the_stores_and_no_one_else_can(
    guarded: tuple[Project, dict[str, str]],
) -> None:
    project, tokens = guarded
    entry = {"store": "facts", "scope": "global", "key": "vip", "text": "Acme is a VIP customer"}
    (project.dir / "facts.jsonl").write_text(json.dumps(entry) + "\n")
    imported = project.cli("memory", "import", "facts.jsonl")
    assert imported.returncode == 0, imported.stderr
    mia, ada = _as(project, tokens["mia"]), _as(project, tokens["ada"])
    [store] = mia.request("GET", "/v1/memory")
    assert (store["name"], store["entries"]) == ("facts", 1)
    [found] = mia.request("GET", "/v1/memory/facts", params={"scope": "global"})
    assert (found["key"], found["text"]) == ("vip", "Acme is a VIP customer")
    assert ada.request("GET", "/v1/memory/facts")[0]["key"] == "vip"
    for subject in ("tina", "rita", "tracy", "lee"):
        refused = _refused(lambda s=subject: _as(project, tokens[s]).request("GET", "/v1/memory"))
        assert refused.status == 403 and "read:memory" in str(refused), subject
    bad = _refused(lambda: mia.request("GET", "/v1/memory/facts", params={"limit": "-1"}))
    assert bad.status == 400
    assert _refused(lambda: mia.request("GET", "/v1/memory/nope")).status == 404
    listed = project.cli("--token", tokens["mia"], "memory", "list", "facts")
    assert listed.returncode == 0 and "Acme is a VIP customer" in listed.stdout, listed.stderr
    refused_cli = project.cli("--token", tokens["tina"], "memory", "list")
    assert refused_cli.returncode == 1 and "read:memory" in refused_cli.stderr
    # the commands that open the store themselves refuse a token rather than ignore it
    direct = project.cli("--token", tokens["mia"], "memory", "search", "facts", "Acme")
    assert direct.returncode == 1 and "does not take --token" in direct.stderr


def test_a_token_without_admin_cannot_stop_the_engine(
    guarded: tuple[Project, dict[str, str]],
) -> None:
    project, tokens = guarded
    pid = project.client.pid
    refused = project.cli("--token", tokens["tina"], "engine", "stop")
    assert refused.returncode == 1 and "admin:*" in refused.stderr, refused.stderr
    assert project.client.pid == pid and project.client.running()  # not signalled either
