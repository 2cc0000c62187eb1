"""An agent's rate limit, per caller and in total, on a real engine: the next task is refused
with HTTP 429 and Retry-After (control API, A2A HTTP+JSON and JSON-RPC), the CLI says so, another
caller is still served, and every refusal is audited."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agentform.runtime.host.client import EngineClient, EngineRequestError
from tests.runtime.project import Project, open_project, wait_for


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, dict[str, str]]]:
    directory = tmp_path_factory.mktemp("limited")
    with open_project(directory) as project:
        spec: dict[str, Any] = {
            "models": {"script": {"provider": "scripted", "script": "scripts/echo.yaml"}},
            "agents": {
                "clerk": {
                    "model": "script",
                    "rate_limit": {"per_caller": "3/minute", "total": "7/minute"},
                },
                "free": {"model": "script"},
            },
            "access": {
                "roles": {"users": ["invoke:clerk", "invoke:free"]},
                "members": {"tina": ["users"], "lee": ["users"], "omar": ["users"]},
            },
        }
        project.write(spec, {"echo": [{"reply": "echo: {{ user }}"}]})
        project.apply()
        project.wait_ready("clerk")
        tokens = {
            s: project.cli("tokens", "create", s).stdout.strip() for s in ("tina", "lee", "omar")
        }
        yield project, tokens


def _send(client: EngineClient, agent: str = "clerk") -> dict[str, Any]:
    found: dict[str, Any] = client.request("POST", "/v1/tasks", body={"agent": agent, "input": "x"})
    return found


def test_the_fourth_task_of_one_caller_is_refused_and_another_caller_is_served(
    limited: tuple[Project, dict[str, str]],
) -> None:
    project, tokens = limited
    tina = EngineClient(project.client.dir, token=tokens["tina"])
    for _ in range(3):
        _send(tina)
    with pytest.raises(EngineRequestError) as refused:
        _send(tina)
    assert refused.value.status == 429
    assert "at most 3/minute from one caller" in str(refused.value)
    api = project.engine_info()["api"]
    raw = httpx.post(
        f"{api}/v1/tasks", json={"agent": "clerk", "input": "x"},
        headers={"authorization": f"Bearer {tokens['tina']}"}, timeout=10,
    )  # fmt: skip
    assert raw.status_code == 429 and 1 <= int(raw.headers["retry-after"]) <= 60
    _send(EngineClient(project.client.dir, token=tokens["lee"]))  # another caller: served
    _send(tina, "free")  # another agent has no limit
    audited = json.loads(project.cli("audit", "list", "--kind", "rate", "--json").stdout)
    assert {(r["actor"], r["agent"]) for r in audited} == {("tina", "clerk")}
    cli = project.cli("--token", tokens["tina"], "send", "clerk", "once more")
    assert cli.returncode == 1 and "try again in" in cli.stderr, cli.stderr


def test_a2a_refuses_with_429_retry_after_and_a_jsonrpc_error(
    limited: tuple[Project, dict[str, str]],
) -> None:
    project, tokens = limited
    url = next(a["a2a"] for a in project.status()["agents"] if a["agent"] == "clerk")
    headers = {"Authorization": f"Bearer {tokens['omar']}", "A2A-Version": "1.0"}

    def send(n: int) -> httpx.Response:
        body = {
            "jsonrpc": "2.0", "id": n, "method": "SendMessage",
            "params": {"message": {"role": "ROLE_USER", "messageId": f"m-omar-{n}",
                                   "parts": [{"text": "hi"}]},
                       "configuration": {"returnImmediately": True}},
        }  # fmt: skip
        return httpx.post(url, json=body, headers=headers, timeout=30)

    answers = [send(n) for n in range(4)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    refused = answers[3]
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["code"] == -32029
    message = {"role": "ROLE_USER", "messageId": "m-omar-rest", "parts": [{"text": "x"}]}
    rest = httpx.post(f"{url}/message:send", json={"message": message}, headers=headers, timeout=30)
    assert rest.status_code == 429 and rest.json()["error"]["status"] == "RESOURCE_EXHAUSTED"


def test_the_total_limit_counts_every_caller(limited: tuple[Project, dict[str, str]]) -> None:
    """tina 3 + lee 1 + omar 3 = 7 in the minute: nobody gets an eighth, the operator neither."""
    project, _ = limited
    with pytest.raises(EngineRequestError) as refused:
        _send(project.client)
    assert refused.value.status == 429 and "in total" in str(refused.value)


def test_two_replicas_share_a_models_limit(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A model allowed 2 requests a minute, used by an agent with 2 replicas: two tasks are
    answered at once, the third waits for the next window, whichever replica takes it (each
    replica alone would have had 2 of its own)."""
    directory = tmp_path_factory.mktemp("shared-model")
    with open_project(directory) as project:
        spec: dict[str, Any] = {
            "models": {
                "script": {
                    "provider": "scripted",
                    "script": "scripts/echo.yaml",
                    "limits": {"requests_per_minute": 2},
                }
            },
            "agents": {"pair": {"model": "script", "replicas": 2}},
            "access": {"roles": {"users": ["invoke:pair"]}, "members": {"tina": ["users"]}},
        }
        project.write(spec, {"echo": [{"reply": "echo: {{ user }}"}]})
        project.apply()
        project.wait_ready("pair", replicas=2)
        ids = [project.submit("pair", f"t{n}")["id"] for n in range(3)]
        done = wait_for(
            lambda: (
                [t for t in map(project.task, ids) if t["status"] == "completed"]
                if sum(project.task(i)["status"] == "completed" for i in ids) >= 2
                else None
            ),
            30,
            "two tasks to be answered",
        )
        assert len(done) == 2
        time.sleep(4)  # the third waits for the model's next minute, on either replica
        waiting = [t for t in map(project.task, ids) if t["status"] != "completed"]
        assert len(waiting) == 1, [t["status"] for t in map(project.task, ids)]
        assert len(project.worker_pids("pair")) == 2  # both replicas are up
        # the count is the runtime store's, shared by both replicas, not a process's own
        with sqlite3.connect(project.dir / ".agentform" / "runtime.db") as db:
            [(count,)] = db.execute(
                "SELECT count FROM agentform_rate WHERE key LIKE '%model:script:requests%'"
            ).fetchall()
        assert count >= 3  # two calls made, and the third's attempts counted against them
