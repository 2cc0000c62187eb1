"""Every agent is an A2A server: card, auth, send/stream/get/list/cancel, and hostile input.

One real project for the module (the CLI in a subprocess, the detached engine, nats-server, a
scripted model's worker), called with the SDK's own client (``a2a.client``) and with raw HTTP.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import (
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    StreamResponse,
    TaskState,
)
from a2a.utils.errors import TaskNotCancelableError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.runtime.project import Project, open_project

HELLO = Path(__file__).resolve().parents[2] / "examples" / "hello"
ANSWER = "agentform describes agents, models, tools and policies in YAML"
V1 = {"A2A-Version": "1.0"}

SPEC: dict[str, Any] = {
    "models": {"greeter-model": {"provider": "scripted", "script": "scripts/greeter.yaml"}},
    "agents": {
        "greeter": {
            "description": "Greets people and explains what agentform is.",
            "model": "greeter-model",
            "instructions": "You are the greeter.",
            "skills": [
                {
                    "id": "explain",
                    "name": "Explain agentform",
                    "description": "Says what agentform is.",
                    "tags": ["docs"],
                    "examples": ["What is agentform?"],
                }
            ],
        },
        # no workers: its tasks stay queued, so get and cancel see them before they run
        "idle": {"model": "greeter-model", "replicas": 0},
    },
    "access": {
        "roles": {
            "users": ["invoke:*"],
            "readers": ["read:tasks"],
            "stoppers": ["cancel:idle"],
        },
        "members": {
            "alice": ["users"],
            "temp": ["users"],
            "bob": ["users"],
            "mallory": ["readers"],
            "carol": ["stoppers"],
        },
    },
}


class Env:
    def __init__(self, project: Project) -> None:
        self.project = project
        agents = {a["agent"]: a for a in project.status()["agents"]}
        self.url = agents["greeter"]["a2a"]
        self.idle_url = agents["idle"]["a2a"]
        self.tokens = {s: self.token(s) for s in ("alice", "temp", "bob", "mallory", "carol")}

    def token(self, subject: str) -> str:
        done = self.project.cli("tokens", "create", subject)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def auth(self, subject: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[subject]}"}

    def rpc(
        self, body: Any, *, subject: str | None = "alice", url: str | None = None, **kw: Any
    ) -> httpx.Response:
        headers = {**V1, **(self.auth(subject) if subject else {}), **kw.pop("headers", {})}
        if "content" not in kw and "json" not in kw:
            kw["json"] = body
        return httpx.post(url or self.url, headers=headers, timeout=30, **kw)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    directory = tmp_path_factory.mktemp("a2a")
    with open_project(directory) as project:
        project.write(SPEC)
        shutil.copy(HELLO / "scripts" / "greeter.yaml", directory / "scripts" / "greeter.yaml")
        project.apply()
        project.wait_ready("greeter")
        yield Env(project)


def message(text: str, message_id: str, context_id: str = "") -> Message:
    return Message(
        role=Role.ROLE_USER, message_id=message_id, context_id=context_id, parts=[Part(text=text)]
    )


async def _send(url: str, token: str, request: SendMessageRequest, streaming: bool) -> list[Any]:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        client = await create_client(url, ClientConfig(streaming=streaming, httpx_client=http))
        return [event async for event in client.send_message(request)]


async def _call(url: str, token: str, method: str, request: Any) -> Any:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        client = await create_client(url, ClientConfig(streaming=False, httpx_client=http))
        return await getattr(client, method)(request)


# -- the card ---------------------------------------------------------------------------------


def test_card_at_the_well_known_path_comes_from_the_spec(env: Env) -> None:
    response = httpx.get(f"{env.url}/.well-known/agent-card.json", timeout=10)
    assert response.status_code == 200
    card = response.json()
    assert card["name"] == "greeter"
    assert card["description"] == "Greets people and explains what agentform is."
    assert re.fullmatch(r"[0-9a-f]{12}", card["version"])
    assert card["capabilities"]["streaming"] is True
    assert card["defaultInputModes"] == card["defaultOutputModes"] == ["text/plain"]
    assert card["skills"] == [
        {
            "id": "explain",
            "name": "Explain agentform",
            "description": "Says what agentform is.",
            "tags": ["docs"],
            "examples": ["What is agentform?"],
        }
    ]
    assert card["securitySchemes"]["bearer"]["httpAuthSecurityScheme"]["scheme"] == "Bearer"
    assert card["securityRequirements"] == [{"schemes": {"bearer": {}}}]
    bindings = {i["protocolBinding"]: i["url"] for i in card["supportedInterfaces"]}
    assert bindings == {"JSONRPC": f"{env.url}/", "HTTP+JSON": env.url}
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", env.url)
    # an agent without skills is its own one skill (the card requires one, with tags)
    idle = httpx.get(f"{env.idle_url}/.well-known/agent-card.json", timeout=10).json()
    assert idle["skills"] == [
        {"id": "idle", "name": "idle", "description": "the agentform agent idle", "tags": ["idle"]}
    ]


def test_status_prints_each_agents_a2a_url(env: Env) -> None:
    done = env.project.cli("status")
    assert done.returncode == 0, done.stderr
    assert f"    a2a {env.url}" in done.stdout
    assert f"    a2a {env.idle_url}" in done.stdout


# -- sending ----------------------------------------------------------------------------------


def test_send_answers_and_the_task_is_the_one_the_cli_sees(env: Env) -> None:
    request = SendMessageRequest(message=message("What is agentform?", "m-send", "ctx-1"))
    [event] = asyncio.run(_send(env.url, env.tokens["alice"], request, streaming=False))
    task = event.task
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    assert task.context_id == "ctx-1"
    assert task.artifacts[0].parts[0].text.startswith(ANSWER)
    assert task.status.message.parts[0].text.startswith(ANSWER)
    assert task.history[0].parts[0].text == "What is agentform?"

    shown = env.project.cli("tasks", "show", task.id)
    assert shown.returncode == 0, shown.stderr
    assert f"task     {task.id}  (completed)" in shown.stdout
    assert "context ctx-1" in shown.stdout
    assert f"result   {ANSWER}" in shown.stdout

    # the same message again (a retry) is the same task, not a second one
    [again] = asyncio.run(_send(env.url, env.tokens["alice"], request, streaming=False))
    assert again.task.id == task.id
    listed = env.project.client.request("GET", "/v1/tasks", params={"agent": "greeter"})
    assert sum(t["id"] == task.id for t in listed) == 1


def test_streaming_send_relays_steps_and_ends_completed(env: Env) -> None:
    request = SendMessageRequest(message=message("hello there", "m-stream"))
    events: list[StreamResponse] = asyncio.run(
        _send(env.url, env.tokens["alice"], request, streaming=True)
    )
    kinds = [e.WhichOneof("payload") for e in events]
    assert kinds[0] == "task"
    assert "artifact_update" in kinds
    last = events[-1]
    assert last.WhichOneof("payload") == "status_update"
    assert last.status_update.status.state == TaskState.TASK_STATE_COMPLETED
    steps = [
        e.status_update.metadata["agentform_step"]["kind"]
        for e in events
        if e.WhichOneof("payload") == "status_update"
        and "agentform_step" in e.status_update.metadata
    ]
    assert steps[:2] == ["start", "model"]
    artifact = next(
        e.artifact_update for e in events if e.WhichOneof("payload") == "artifact_update"
    )
    assert artifact.artifact.parts[0].text.startswith("Hello, and welcome!")


def test_raw_jsonrpc_send_and_the_v03_method_names(env: Env) -> None:
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "SendMessage",
        "params": {
            "message": {
                "role": "ROLE_USER",
                "messageId": "m-raw",
                "parts": [{"text": "thanks, bye"}],
            }
        },
    }
    answer = env.rpc(body).json()
    assert answer["id"] == 7
    assert answer["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    old = {
        "jsonrpc": "2.0",
        "id": "x",
        "method": "message/send",
        "params": {
            "message": {
                "role": "user",
                "messageId": "m-v03",
                "kind": "message",
                "parts": [{"kind": "text", "text": "thanks"}],
            }
        },
    }
    legacy = httpx.post(env.url, json=old, headers=env.auth(), timeout=30).json()
    assert legacy["result"]["status"]["state"] == "completed", legacy


# -- get, list, cancel ------------------------------------------------------------------------


def test_get_list_and_cancel_a_queued_task(env: Env) -> None:
    token = env.tokens["alice"]
    request = SendMessageRequest(
        message=message("hi", "m-cancel"),
        configuration=SendMessageConfiguration(return_immediately=True),
    )
    [event] = asyncio.run(_send(env.idle_url, token, request, streaming=False))
    task_id = event.task.id
    assert event.task.status.state == TaskState.TASK_STATE_SUBMITTED

    got = asyncio.run(_call(env.idle_url, token, "get_task", GetTaskRequest(id=task_id)))
    assert got.status.state == TaskState.TASK_STATE_SUBMITTED
    listed = asyncio.run(_call(env.idle_url, token, "list_tasks", ListTasksRequest()))
    assert task_id in [t.id for t in listed.tasks]

    canceled = asyncio.run(_call(env.idle_url, token, "cancel_task", CancelTaskRequest(id=task_id)))
    assert canceled.status.state == TaskState.TASK_STATE_CANCELED
    assert env.project.task(task_id)["status"] == "canceled"
    with pytest.raises(TaskNotCancelableError, match="already ended"):
        asyncio.run(_call(env.idle_url, token, "cancel_task", CancelTaskRequest(id=task_id)))

    # a task of another agent is not found here
    other = env.rpc({"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": task_id}})
    assert other.json()["error"]["code"] == -32001


# -- authentication and permission ------------------------------------------------------------

SEND = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "SendMessage",
    "params": {"message": {"role": "ROLE_USER", "messageId": "m-auth", "parts": [{"text": "hi"}]}},
}


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, -32040),
        ({"Authorization": "Bearer aft_not-a-token"}, 401, -32040),
        ({"Authorization": "Basic YWxpY2U6eA=="}, 401, -32040),
    ],
    ids=["no-token", "wrong-token", "not-bearer"],
)
def test_requests_without_a_valid_token_are_refused(
    env: Env, headers: dict[str, str], status: int, code: int
) -> None:
    response = env.rpc(SEND, subject=None, headers=headers)
    assert response.status_code == status
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == code


def test_a_revoked_token_is_refused_at_once(env: Env) -> None:
    assert env.rpc(SEND, subject="temp").status_code == 200
    done = env.project.cli("tokens", "revoke", "temp")
    assert done.returncode == 0, done.stderr
    assert "revoked 1 token(s) of temp" in done.stdout
    assert env.rpc(SEND, subject="temp").status_code == 401
    listed = env.project.cli("tokens", "list")
    assert re.search(r"^\w{12}\s+temp\s+\S+\s+revoked$", listed.stdout, re.M), listed.stdout
    assert env.tokens["temp"] not in listed.stdout  # the token itself is never shown again


def test_a_subject_without_invoke_is_refused(env: Env) -> None:
    response = env.rpc(SEND, subject="mallory")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == -32043
    assert "'mallory' is not allowed to invoke agent greeter" in error["message"]
    rest = httpx.post(
        f"{env.url}/message:send",
        json=SEND["params"],
        headers={**V1, **env.auth("mallory")},
        timeout=10,
    )
    assert rest.status_code == 403
    assert rest.json()["error"]["status"] == "PERMISSION_DENIED"


def _queued(env: Env, subject: str, message_id: str) -> str:
    request = SendMessageRequest(
        message=message("hi", message_id),
        configuration=SendMessageConfiguration(return_immediately=True),
    )
    [event] = asyncio.run(_send(env.idle_url, env.tokens[subject], request, streaming=False))
    return str(event.task.id)


def _rpc_idle(env: Env, subject: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 9, "method": method, "params": params}
    response = env.rpc(body, subject=subject, url=env.idle_url)
    return {"status": response.status_code, **response.json()}


def test_read_tasks_reads_every_task_and_an_invoker_only_its_own(env: Env) -> None:
    mine = _queued(env, "alice", "m-own-a")
    theirs = _queued(env, "bob", "m-own-b")
    # mallory holds read:tasks only: she sees both, and cannot send
    assert _rpc_idle(env, "mallory", "GetTask", {"id": theirs})["result"]["id"] == theirs
    listed = _rpc_idle(env, "mallory", "ListTasks", {"pageSize": 100})["result"]
    assert {mine, theirs} <= {t["id"] for t in listed["tasks"]}
    # alice (invoke only) sees her own task, and bob's is not found for her
    assert _rpc_idle(env, "alice", "GetTask", {"id": mine})["result"]["id"] == mine
    assert _rpc_idle(env, "alice", "GetTask", {"id": theirs})["error"]["code"] == -32001
    own = _rpc_idle(env, "alice", "ListTasks", {"pageSize": 100})["result"]
    assert mine in {t["id"] for t in own["tasks"]}
    assert theirs not in {t["id"] for t in own["tasks"]}
    assert own["totalSize"] == len(own["tasks"])
    # carol holds cancel:idle only: she may not read
    refused = _rpc_idle(env, "carol", "GetTask", {"id": theirs})
    assert refused["status"] == 403 and "read:tasks" in refused["error"]["message"]


def test_cancel_needs_cancel_or_being_the_one_who_sent_it(env: Env) -> None:
    theirs = _queued(env, "bob", "m-cancel-b")
    # alice may not cancel bob's task: she does not even see it
    other = _rpc_idle(env, "alice", "CancelTask", {"id": theirs})
    assert other["error"]["code"] == -32001
    assert env.project.task(theirs)["status"] == "submitted"
    # mallory can read it but may not cancel: refused at the door
    reader = _rpc_idle(env, "mallory", "CancelTask", {"id": theirs})
    assert reader["status"] == 403 and "cancel:idle" in reader["error"]["message"]
    assert env.project.task(theirs)["status"] == "submitted"
    # carol holds cancel:idle: she cancels it (and sees it through the cancel she may do)
    done = _rpc_idle(env, "carol", "CancelTask", {"id": theirs})
    assert done["status"] == 200 and "error" not in done, done
    assert env.project.task(theirs)["status"] == "canceled"


# -- hostile input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"content": b"{not json"}, 200, -32700),
        ({"json": {"jsonrpc": "2.0", "id": 1, "method": "NoSuchMethod"}}, 200, -32601),
        ({"json": {"jsonrpc": "1.0", "id": 1, "method": "GetTask"}}, 200, -32600),
        ({"json": [SEND, SEND]}, 200, -32600),
        ({"json": {**SEND, "params": {"message": "text"}}}, 200, -32602),
        ({"json": {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {}}}, 200, -32602),
        ({"content": b"x" * 1_000_001}, 413, -32600),
        ({"content": b"{}", "headers": {"content-type": "text/plain"}}, 415, -32600),
    ],
    ids=[
        "malformed-json",
        "unknown-method",
        "wrong-jsonrpc-version",
        "batch",
        "bad-params",
        "missing-id",
        "oversized",
        "wrong-content-type",
    ],
)
def test_bad_requests_get_jsonrpc_errors_not_500(
    env: Env, kwargs: dict[str, Any], status: int, code: int
) -> None:
    headers = {"content-type": "application/json", **kwargs.pop("headers", {})}
    response = env.rpc(None, headers=headers, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["jsonrpc"] == "2.0"
    assert body["error"]["code"] == code, body


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
METHODS = st.sampled_from(
    ["GetTask", "ListTasks", "CancelTask", "SubscribeToTask", "GetExtendedAgentCard", "x"]
)
RPC = st.fixed_dictionaries(
    {"jsonrpc": st.just("2.0"), "id": st.integers() | st.text(max_size=5), "method": METHODS},
    optional={"params": JSON},
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=JSON | RPC)
def test_fuzzed_bodies_never_cause_a_server_error(env: Env, body: Any) -> None:
    response = env.rpc(
        None, content=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code < 500, response.text


# -- reconfiguring (last: it changes the project) ---------------------------------------------


def test_a_reconfigured_agent_keeps_its_address_and_serves_the_new_card(env: Env) -> None:
    ports = json.loads((env.project.client.dir / "a2a.json").read_text())
    assert env.url == f"http://127.0.0.1:{ports['greeter']}"
    before = httpx.get(f"{env.url}/.well-known/agent-card.json", timeout=10).json()
    assert env.rpc(SEND, subject="mallory").status_code == 403
    spec = json.loads(json.dumps(SPEC))
    spec["agents"]["greeter"]["description"] = "Greets, now more warmly."
    spec["access"]["members"]["mallory"] = ["users"]
    env.project.write(spec)
    env.project.apply()

    agents = {a["agent"]: a for a in env.project.status()["agents"]}
    assert agents["greeter"]["a2a"] == env.url
    after = httpx.get(f"{env.url}/.well-known/agent-card.json", timeout=10).json()
    assert after["description"] == "Greets, now more warmly."
    assert after["version"] != before["version"]
    # invokers come with the agent's values: mallory may invoke it now, without a new token
    assert env.rpc({**SEND, "id": 2}, subject="mallory").status_code == 200


# -- the fixes of issue 17 (A2A continuation's list) ------------------------------------------


def _list(env: Env, params: dict[str, Any]) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 3, "method": "ListTasks", "params": params}
    answer: dict[str, Any] = env.rpc(body, url=env.idle_url).json()
    return answer


def test_list_tasks_with_an_unknown_status_is_invalid_params(env: Env) -> None:
    answer = _list(env, {"status": "TASK_STATE_BOGUS"})
    assert answer.get("error", {}).get("code") == -32602, answer


def test_list_tasks_total_size_is_the_total_not_a_lower_bound(env: Env) -> None:
    token = env.tokens["alice"]
    for i in range(3):
        request = SendMessageRequest(
            message=message("hi", f"m-total-{i}"),
            configuration=SendMessageConfiguration(return_immediately=True),
        )
        asyncio.run(_send(env.idle_url, token, request, streaming=False))
    everything = _list(env, {"pageSize": 100})["result"]
    first = _list(env, {"pageSize": 1})["result"]
    assert len(first["tasks"]) == 1
    assert first["totalSize"] == everything["totalSize"] == len(everything["tasks"]) >= 3


def test_rest_subscribe_without_a_body_is_accepted(env: Env) -> None:
    """What the official SDK client sends: POST /tasks/{id}:subscribe with no body."""
    token = env.tokens["alice"]
    request = SendMessageRequest(
        message=message("hi", "m-sub"),
        configuration=SendMessageConfiguration(return_immediately=True),
    )
    [event] = asyncio.run(_send(env.idle_url, token, request, streaming=False))
    with httpx.stream(
        "POST",
        f"{env.idle_url}/tasks/{event.task.id}:subscribe",
        headers={**V1, **env.auth()},
        timeout=10,
    ) as response:
        assert response.status_code == 200, response.read()
        first = next(response.iter_lines())
    assert event.task.id in first


def test_rest_list_with_an_unknown_status_is_a_400(env: Env) -> None:
    response = httpx.get(
        f"{env.idle_url}/tasks",
        params={"status": "TASK_STATE_BOGUS"},
        headers={**V1, **env.auth()},
        timeout=10,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    known = httpx.get(
        f"{env.idle_url}/tasks",
        params={"status": "TASK_STATE_SUBMITTED"},
        headers={**V1, **env.auth()},
        timeout=10,
    )
    assert known.status_code == 200, known.text
