"""An agent that asks: the model ends its turn with a question (``ask_user``), the task waits in
input-required, and whoever sent it answers, over A2A or with ``agentform tasks reply``.

A real engine, NATS, SQLite and a scripted model whose rules ask "Which order?" and then use the
answer. Answering is tried from the attacker's side too: another subject that may invoke the
agent may not answer someone else's question, and nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agentform.runtime.host.client import EngineClient, EngineRequestError
from tests.runtime.project import Project, open_project, wait_for


@pytest.fixture(scope="module")
def asking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, dict[str, str]]]:
    directory = tmp_path_factory.mktemp("asking")
    with open_project(directory) as project:
        spec: dict[str, Any] = {
            "models": {"script": {"provider": "scripted", "script": "scripts/asker.yaml"}},
            "agents": {
                "asker": {
                    "model": "script",
                    "instructions": "Refund what the customer names.",
                    "ask_user": True,
                    "limits": {"max_steps": 10},
                },
            },
            "access": {
                "roles": {"users": ["invoke:asker"]},
                "members": {"tina": ["users"], "mallory": ["users"]},
            },
        }
        scripts = {
            "asker": [
                {"match": {"tool_result": "."}, "reply": "refunding order {{ tool_result }}"},
                {"call": {"tool": "ask_user", "arguments": {"question": "Which order?"}}},
            ]
        }
        project.write(spec, scripts)
        project.apply()
        project.wait_ready("asker")
        tokens = {s: project.cli("tokens", "create", s).stdout.strip() for s in ("tina", "mallory")}
        yield project, tokens


def _waiting(project: Project, task_id: str) -> dict[str, Any]:
    return wait_for(
        lambda: ((t := project.task(task_id))["status"] == "input-required" and t) or None,
        30,
        f"task {task_id} to ask",
    )


def test_send_prints_the_question_and_reply_continues_the_task(
    asking: tuple[Project, dict[str, str]],
) -> None:
    project, _ = asking
    sent = project.cli("send", "asker", "refund please")
    assert sent.returncode == 3, (sent.stdout, sent.stderr)
    assert "asker asks: Which order?" in sent.stdout
    task_id = sent.stderr.split("agentform tasks reply ")[1].split()[0]
    task = _waiting(project, task_id)
    [question] = [s for s in task["steps"] if s["kind"] == "question"]
    assert question["data"]["question"] == "Which order?"
    shown = project.cli("tasks", "show", task_id)
    assert "asks: Which order?" in shown.stdout, shown.stdout
    replied = project.cli("tasks", "reply", task_id, "A-17")
    assert replied.returncode == 0, replied.stderr
    done = project.wait_task(task_id)
    assert (done["status"], done["result"]) == ("completed", "refunding order A-17")
    again = project.cli("tasks", "reply", task_id, "A-18")
    assert again.returncode == 1 and "not waiting for an answer" in again.stderr


def _send(url: str, token: str, message: dict[str, Any]) -> dict[str, Any]:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "SendMessage",
        "params": {"message": message, "configuration": {"returnImmediately": True}},
    }
    headers = {"Authorization": f"Bearer {token}", "A2A-Version": "1.0"}
    answer: dict[str, Any] = httpx.post(url, json=body, headers=headers, timeout=30).json()
    return answer


def test_only_who_asked_answers_over_a2a(asking: tuple[Project, dict[str, str]]) -> None:
    project, tokens = asking
    url = next(a["a2a"] for a in project.status()["agents"] if a["agent"] == "asker")
    sent = _send(
        url,
        tokens["tina"],
        {"role": "ROLE_USER", "messageId": "m-ask-1", "parts": [{"text": "refund please"}]},
    )
    task_id = sent["result"]["task"]["id"]
    _waiting(project, task_id)
    answer = {"role": "ROLE_USER", "taskId": task_id, "parts": [{"text": "B-9"}]}
    refused = _send(url, tokens["mallory"], {**answer, "messageId": "m-ask-2"})
    assert refused["error"]["code"] == -32602, refused
    assert "may not answer" in refused["error"]["message"]
    assert project.task(task_id)["status"] == "input-required"
    accepted = _send(url, tokens["tina"], {**answer, "messageId": "m-ask-3"})
    assert "result" in accepted, accepted
    done = project.wait_task(task_id)
    assert (done["status"], done["result"]) == ("completed", "refunding order B-9")


def test_the_control_api_answers_only_for_who_asked(
    asking: tuple[Project, dict[str, str]],
) -> None:
    project, tokens = asking
    tina = EngineClient(project.client.dir, token=tokens["tina"])
    mallory = EngineClient(project.client.dir, token=tokens["mallory"])
    task_id = tina.request("POST", "/v1/tasks", body={"agent": "asker", "input": "refund"})["id"]
    _waiting(project, task_id)
    with pytest.raises(EngineRequestError) as refused:  # not even seen: another's task
        mallory.request("POST", f"/v1/tasks/{task_id}/reply", body={"text": "C-1"})
    assert refused.value.status == 404
    with pytest.raises(EngineRequestError) as empty:
        tina.request("POST", f"/v1/tasks/{task_id}/reply", body={"text": "  "})
    assert empty.value.status == 400
    tina.request("POST", f"/v1/tasks/{task_id}/reply", body={"text": "C-2"})
    assert project.wait_task(task_id)["result"] == "refunding order C-2"
