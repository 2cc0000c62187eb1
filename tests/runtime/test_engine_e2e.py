"""End to end through the CLI: apply a project, send it tasks, inspect them, destroy it.

Real processes throughout: the ``agentform`` CLI in a subprocess, the detached local engine, its
embedded nats-server, the agents' workers, a stdio MCP server and SQLite.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.runtime.project import Project, open_project, processes_of, wait_for

HELLO = Path(__file__).resolve().parents[2] / "examples" / "hello"
ANSWER = "agentform describes agents, models, tools and policies in YAML"


@pytest.fixture(scope="module")
def hello(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    directory = tmp_path_factory.mktemp("hello")
    # only the spec: a developer's .agentform/ (state, runtime.db, engine) must not come along
    shutil.copy(HELLO / "agentform.yaml", directory)
    shutil.copytree(HELLO / "scripts", directory / "scripts")
    with open_project(directory) as project:
        project.apply()
        yield project


def test_send_prints_the_scripted_answer(hello: Project) -> None:
    done = hello.cli("send", "greeter", "What is agentform?")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(ANSWER)


def test_send_follow_shows_every_step(hello: Project) -> None:
    done = hello.cli("send", "greeter", "hello there", "-f", "--input", "user.name=Ada")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.match(r"task \w+ accepted \(agent greeter, context \S+\)", lines[0])
    assert "start: instructions You are the greeter" in lines[1]
    assert "Greet Ada warmly" in lines[1]  # the task input filled the instructions' template
    assert re.search(r"model greeter-model: \d+\+\d+ tokens, [\d.]+ ms: answers Hello", lines[2])
    assert "answer: Hello, and welcome!" in lines[3]
    assert re.match(r"completed in [\d.]+s", lines[4])
    assert lines[5] == "Hello, and welcome! I'm the greeter. Ask me what agentform is."


def test_status_shows_the_agent_ready(hello: Project) -> None:
    hello.wait_ready("greeter")
    done = hello.cli("status")
    assert done.returncode == 0, done.stderr
    assert re.search(r"^engine\s+pid \d+, up \d+s, project hello", done.stdout, re.M)
    assert "(embedded nats-server, connected)" in done.stdout
    assert re.search(r"^greeter\s+1/1\s+0\s+ok$", done.stdout, re.M)


def test_tasks_list_and_show_record_steps_with_tokens(hello: Project) -> None:
    sent = hello.cli("send", "greeter", "thanks, bye", "--id", "e2e-thanks")
    assert sent.returncode == 0, sent.stderr

    listed = hello.cli("tasks", "list", "--agent", "greeter")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("e2e-thanks"))
    assert re.match(r"e2e-thanks\s+greeter\s+completed\s+(\d+)\s+thanks, bye$", row)
    assert int(row.split()[3]) > 0  # tokens were counted

    shown = hello.cli("tasks", "show", "e2e-thanks")
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "task     e2e-thanks  (completed)" in text
    assert "attempts 1" in text
    assert re.search(r"tokens   [1-9]\d* in, [1-9]\d* out", text)
    kinds = re.findall(r"^  \[(\d+)\] (start|model|answer)", text, re.M)
    assert kinds == [("0", "start"), ("1", "model"), ("2", "answer")]
    assert "result   You're welcome. Have a great day!" in text


def test_send_the_same_id_again_does_not_run_it_twice(hello: Project) -> None:
    first = hello.cli("send", "greeter", "hi", "--id", "e2e-once")
    again = hello.cli("send", "greeter", "hi", "--id", "e2e-once")
    assert (first.returncode, again.returncode) == (0, 0)
    assert first.stdout == again.stdout
    assert hello.task("e2e-once")["attempts"] == 1


def _post_tasks(project: Project, body: dict[str, Any]) -> tuple[int, Any]:
    info, token = project.client._address()
    response = httpx2.post(
        f"{info['api']}/v1/tasks",
        json=body,
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    )
    return response.status_code, response.json()


def test_many_tasks_in_one_request_each_run_once(hello: Project) -> None:
    tasks = [{"agent": "greeter", "input": f"hi {i}", "id": f"e2e-many-{i}"} for i in range(20)]
    tasks.append({"agent": "greeter", "input": "hi again", "id": "e2e-many-3"})  # a repeat
    status, body = _post_tasks(hello, {"tasks": tasks})
    assert status == 202
    ids = [t["id"] for t in body["tasks"]]
    assert ids == [f"e2e-many-{i}" for i in range(20)] + ["e2e-many-3"]
    assert body["tasks"][-1]["input"] == "hi 3"  # the repeat is the task already recorded
    for i in range(20):
        task = hello.wait_task(f"e2e-many-{i}")
        assert task["status"] == "completed" and task["attempts"] == 1


def test_a_batch_says_which_tasks_it_refused(hello: Project) -> None:
    tasks = [
        {"agent": "greeter", "input": "accepted", "id": "e2e-part-ok"},
        {"agent": "nobody", "input": "refused", "id": "e2e-part-no"},
    ]
    status, body = _post_tasks(hello, {"tasks": tasks})
    assert status == 404
    accepted, refused = body["tasks"]
    assert accepted["id"] == "e2e-part-ok"
    assert refused["status"] == 404 and "no agent named 'nobody'" in refused["error"]
    assert hello.wait_task("e2e-part-ok")["status"] == "completed"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"tasks": []}, '"tasks" must be a list of 1 to 1000 tasks'),
        ({"tasks": "x"}, '"tasks" must be a list of 1 to 1000 tasks'),
        ({"tasks": [{"agent": "greeter", "input": "ok"}, 7]}, "task 1 of the request must be"),
        ({"tasks": [{"agent": "greeter"}]}, 'task 0 of the request needs "agent" and "input"'),
        (
            {"tasks": [{"agent": "greeter", "input": "x", "id": ""}]},
            "task 0 of the request: 'id' must be a non-empty string",
        ),
    ],
)
def test_a_malformed_batch_is_refused_whole(
    hello: Project, body: dict[str, Any], message: str
) -> None:
    before = len(hello.client.request("GET", "/v1/tasks", params={"limit": 1000}))
    status, answer = _post_tasks(hello, body)
    assert status == 400 and message in answer["error"]
    assert len(hello.client.request("GET", "/v1/tasks", params={"limit": 1000})) == before


def test_logs_show_the_worker(hello: Project) -> None:
    done = hello.cli("logs", "greeter")
    assert done.returncode == 0, done.stderr
    assert re.search(r"worker greeter-0-\w+ of agent greeter ready", done.stdout)


def test_destroy_leaves_no_process(hello: Project) -> None:
    running = processes_of(hello.dir)
    commands = " ".join(command for _, command in running)
    assert "nats-server" in commands and " engine " in commands and " forks " in commands
    # a forked worker runs the fork server's command line: found by its pid (it runs in the dir)
    workers = set(hello.worker_pids("greeter").values())
    assert workers and workers <= {pid for pid, _ in running}

    done = hello.destroy()
    assert done.returncode == 0, done.stderr
    assert "4 destroyed" in done.stdout
    wait_for(lambda: not processes_of(hello.dir), 10, "no process of the project")
    assert not hello.client.running()


# -- an agent with an MCP tool -------------------------------------------------------------

TOOL_SPEC = {
    "models": {"m": {"provider": "scripted", "script": "scripts/m.yaml"}},
    "tools": {
        "toys": {
            "mcp": {"command": ["python", "server.py"], "env": {"TOYS_NAME": "toybox"}},
            "side_effects": "none",
            "timeout": "10s",
        }
    },
    "agents": {"echoer": {"model": "m", "instructions": "Echo things.", "tools": ["toys"]}},
    "access": {"roles": {"users": ["invoke:echoer"]}, "members": {"tester": ["users"]}},
}
TOOL_RULES = [
    {"match": {"tool_result": "."}, "reply": "the tool said {{ tool_result }}"},
    {
        "match": {"user": "echo (\\w+)"},
        "call": {"tool": "echo", "arguments": {"text": "{{ match[1] }}"}},
    },
    {"reply": "nothing to echo"},
]


def test_agent_calls_an_mcp_tool_and_answers_with_its_result(tmp_path: Path) -> None:
    with open_project(tmp_path) as project:
        project.write(TOOL_SPEC, {"m": TOOL_RULES}, toys=True)
        project.apply()

        done = project.cli("send", "echoer", "please echo parrot", "-f", "--id", "t1")
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[-1] == "the tool said toybox:parrot"
        steps = [s["kind"] for s in project.task("t1")["steps"]]
        assert steps == ["start", "model", "tool_call", "tool_result", "model", "final"]
        assert re.search(r"tool call echo\(\{\"text\": \"parrot\"\}\)", done.stdout)
        assert "tool result echo" in done.stdout

        # one MCP server process, started by the worker from the project's directory
        servers = [c for _, c in processes_of(tmp_path) if c.endswith("server.py")]
        assert [c.split()[-1] for c in servers] == [str(project.dir / "server.py")]

        assert project.destroy().returncode == 0
        wait_for(lambda: not processes_of(tmp_path), 10, "no process of the project")
