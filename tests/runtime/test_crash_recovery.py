"""Crash recovery: a worker SIGKILLed mid-task, and a nats-server SIGKILLed under load.

The acceptance test of the runtime: a task survives its worker's death. The engine restarts the
worker, JetStream redelivers the task (ack_wait 2 s), and the new worker replays the recorded
steps instead of redoing them: a recorded tool result is never called again, an interrupted
idempotent call is repeated with the same idempotency key, an interrupted unsafe one fails the
task, because its outcome is unknown.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from agentform.runtime.host.client import EngineRequestError, EngineUnavailable
from tests.runtime.project import Project, open_project, pid_alive, wait_for

# an MCP server whose one tool writes the idempotency key it was called with, then sleeps
KEYED_SERVER = '''
import asyncio, os
from mcp.server.mcpserver import Context, MCPServer

mcp = MCPServer("keyed")

@mcp.tool()
async def record(seconds: float, ctx: Context) -> str:
    """Append the call's idempotency key to $KEYS_FILE, then sleep."""
    key = dict(ctx.request_context.meta or {}).get("agentform/idempotency_key", "?")
    with open(os.environ["KEYS_FILE"], "a") as out:
        out.write(key + "\\n")
    await asyncio.sleep(seconds)
    return "recorded " + key

mcp.run()
'''


def _keyed_tool(keys: Path, side_effects: str) -> dict[str, Any]:
    return {
        "mcp": {"command": ["python", "keyed.py"], "env": {"KEYS_FILE": str(keys)}},
        "side_effects": side_effects,
        "timeout": "30s",
    }


@pytest.fixture(scope="module")
def crashy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    directory = tmp_path_factory.mktemp("crashy")
    with open_project(directory) as project:
        spec = {
            "models": {
                name: {"provider": "scripted", "script": f"scripts/{name}.yaml"}
                for name in ("count", "slow", "quick")
            },
            "tools": {
                "tally": {
                    "mcp": {
                        "command": ["python", "server.py"],
                        "env": {"TOYS_COUNTER_FILE": str(directory / "counter.txt")},
                    },
                    "side_effects": "unsafe",  # never repeated: the recorded result must do
                    "expose": ["counter"],
                },
                "keyed-safe": _keyed_tool(directory / "safe-keys.txt", "idempotent"),
                "keyed-unsafe": _keyed_tool(directory / "unsafe-keys.txt", "unsafe"),
                "keyed-ask": {
                    **_keyed_tool(directory / "ask-keys.txt", "unsafe"),
                    "on_unknown_outcome": "ask_human",
                },
            },
            "agents": {
                "counter": {"model": "count", "instructions": "Count.", "tools": ["tally"]},
                "safe": {"model": "slow", "instructions": "Record.", "tools": ["keyed-safe"]},
                "unsafe": {"model": "slow", "instructions": "Record.", "tools": ["keyed-unsafe"]},
                "asking": {"model": "slow", "instructions": "Record.", "tools": ["keyed-ask"]},
                "busy": {"model": "quick", "instructions": "Be quick.", "replicas": 2},
            },
            "access": {
                "roles": {
                    "users": [
                        f"invoke:{a}" for a in ("counter", "safe", "unsafe", "asking", "busy")
                    ]
                },
                "members": {"tester": ["users"]},
            },
        }
        scripts = {
            "count": [
                {
                    "match": {"tool_result": r"^(\d+)$"},
                    "delay": "3s",
                    "reply": "count is {{ match[1] }}",
                },
                {"call": {"tool": "counter", "arguments": {"label": "{{ user }}"}}},
            ],
            "slow": [
                {"match": {"tool_result": "recorded"}, "reply": "{{ tool_result }}"},
                {"call": {"tool": "record", "arguments": {"seconds": 2.5}}},
            ],
            "quick": [{"delay": "500ms", "reply": "done: {{ user }}"}],
        }
        project.write(spec, scripts, toys=True)
        (directory / "keyed.py").write_text(KEYED_SERVER)
        project.apply()
        for agent in ("counter", "safe", "unsafe", "asking"):
            project.wait_ready(agent)
        project.wait_ready("busy", 2)
        yield project


def _kill_worker_running(project: Project, task_id: str) -> int:
    """SIGKILL the worker process that runs ``task_id``; returns its pid."""
    task = project.task(task_id)
    pid = project.worker_pids(task["agent"])[task["worker"]]
    os.kill(pid, signal.SIGKILL)
    return pid


def _steps(project: Project, task_id: str) -> list[str]:
    return [s["kind"] for s in project.task(task_id)["steps"]]


def test_worker_killed_after_a_tool_result_finishes_the_task_without_calling_again(
    crashy: Project,
) -> None:
    task_id = crashy.submit("counter", "count me")["id"]
    wait_for(lambda: "tool_result" in _steps(crashy, task_id), 15, "the tool result")
    killed = _kill_worker_running(crashy, task_id)
    killed_at = time.monotonic()

    task = crashy.wait_task(task_id, timeout=20)
    recovery = time.monotonic() - killed_at
    print(f"\nworker SIGKILLed during the model's delay: task completed {recovery:.2f}s later")

    assert (task["status"], task["result"]) == ("completed", "count is 1")
    assert (crashy.dir / "counter.txt").read_text().splitlines() == ["count me"]
    assert task["attempts"] >= 2
    assert [s["kind"] for s in task["steps"]] == [
        "start",
        "model",
        "tool_call",
        "tool_result",
        "model",
        "final",
    ]
    assert recovery < 10
    # the engine replaced the dead worker
    assert not pid_alive(killed)
    restarted = crashy.wait_ready("counter")
    assert restarted["restarts"] >= 1
    assert killed not in crashy.worker_pids("counter").values()


@pytest.mark.parametrize(
    ("agent", "status", "keys_file", "calls", "outcome"),
    [
        ("safe", "completed", "safe-keys.txt", 2, "recorded {key}"),
        ("unsafe", "failed", "unsafe-keys.txt", 1, "outcome is unknown"),
    ],
    ids=["idempotent-repeated-with-same-key", "unsafe-fails-the-task"],
)
def test_worker_killed_during_a_tool_call(
    crashy: Project, agent: str, status: str, keys_file: str, calls: int, outcome: str
) -> None:
    task_id = crashy.submit(agent, "record it")["id"]
    keys = crashy.dir / keys_file
    wait_for(lambda: keys.exists() and keys.read_text().strip(), 15, "the tool to be called")
    _kill_worker_running(crashy, task_id)

    task = crashy.wait_task(task_id, timeout=30)
    call = next(s for s in task["steps"] if s["kind"] == "tool_call")
    key = call["data"]["idempotency_key"]
    assert key == f"{task_id}/2/call_0"
    assert task["status"] == status
    assert task["attempts"] >= 2
    assert keys.read_text().splitlines() == [key] * calls
    assert outcome.format(key=key) in (task["result"] or task["error"])
    assert sum(1 for s in task["steps"] if s["kind"] == "tool_call") == 1


@pytest.mark.parametrize("answer", ["happened", "retry"])
def test_an_unknown_outcome_is_asked_of_a_human(crashy: Project, answer: str) -> None:
    """on_unknown_outcome: ask_human: the task waits instead of failing, and goes on as the
    operator answers: with the result they found, or by making the call again (same key)."""
    keys = crashy.dir / "ask-keys.txt"
    before = keys.read_text().splitlines() if keys.exists() else []
    task_id = crashy.submit("asking", f"record it {answer}")["id"]
    wait_for(
        lambda: keys.exists() and len(keys.read_text().splitlines()) > len(before),
        15,
        "the tool to be called",
    )
    _kill_worker_running(crashy, task_id)
    wait_for(
        lambda: crashy.task(task_id)["status"] == "input-required" or None,
        60,
        "the task to wait for a human",
    )
    key = f"{task_id}/2/call_0"
    shown = crashy.cli("tasks", "show", task_id)
    assert f"unknown outcome: record (key {key})" in shown.stdout, shown.stdout
    request = f"{task_id}/call_0#outcome"
    listed = crashy.cli("approvals", "list")
    assert request in listed.stdout and "unknown outcome" in listed.stdout, listed.stdout
    if answer == "happened":
        bad = crashy.cli("approvals", "resolve", request, "happened")
        assert bad.returncode == 2 and "--result" in bad.stderr
        done = crashy.cli("approvals", "resolve", request, "happened", "--result", "recorded R-1")
    else:
        done = crashy.cli("approvals", "resolve", request, "retry", "--reason", "not in the log")
    assert done.returncode == 0, done.stderr
    task = crashy.wait_task(task_id, timeout=60)
    assert task["status"] == "completed", task
    made = keys.read_text().splitlines()[len(before) :]
    if answer == "happened":
        assert task["result"] == "recorded R-1" and made == [key]  # not made again
    else:
        assert task["result"] == f"recorded {key}" and made == [key, key]  # once more, same key
    assert crashy.cli("approvals", "approve", request).returncode == 1  # answered already


def _submit(project: Project, task_id: str) -> bool:
    """True once the engine accepted the task (202); False when the bus was down (503)."""
    try:
        project.submit("busy", f"job {task_id}", task_id=task_id)
    except EngineRequestError as exc:
        assert exc.status == 503, exc
        assert "send it again with the same --id" in str(exc)
        return False
    except EngineUnavailable:
        return False
    return True


def test_tasks_survive_a_nats_server_kill(crashy: Project) -> None:
    ids = [f"bulk-{uuid.uuid4().hex[:8]}-{n}" for n in range(50)]
    accepted = {i for i in ids[:40] if _submit(crashy, i)}
    old_nats, port = crashy.nats_pid(), crashy.engine_info()["nats_port"]
    os.kill(old_nats, signal.SIGKILL)
    killed_at = time.monotonic()
    # the store answers without the bus: tasks were still queued or running when it died
    listed = crashy.client.request("GET", "/v1/tasks", params={"agent": "busy", "limit": 200})
    unfinished = [t["id"] for t in listed if t["id"] in accepted and t["status"] != "completed"]
    assert unfinished, "every task finished before the kill: the test proves nothing"
    accepted |= {i for i in ids[40:] if _submit(crashy, i)}
    refused = [i for i in ids if i not in accepted]

    # the engine starts nats-server again, on the same port
    wait_for(lambda: crashy.nats_pid() != old_nats, 15, "a new nats-server")
    assert pid_alive(crashy.nats_pid())
    assert crashy.engine_info()["nats_port"] == port
    # what was refused during the outage is sent again with the same id
    for task_id in refused:
        wait_for(partial(_submit, crashy, task_id), 20, f"task {task_id} to be accepted")

    def all_done() -> list[dict[str, Any]] | None:
        tasks = crashy.client.request("GET", "/v1/tasks", params={"agent": "busy", "limit": 200})
        mine = [t for t in tasks if t["id"] in set(ids)]
        return (
            mine
            if len(mine) == len(ids) and all(t["status"] == "completed" for t in mine)
            else None
        )

    tasks = wait_for(all_done, 45, "all 50 tasks to complete")
    print(
        f"\nnats-server SIGKILLed with {len(unfinished)} tasks unfinished;"
        f" {len(refused)} submits refused and resent;"
        f" all 50 tasks completed {time.monotonic() - killed_at:.2f}s after the kill"
    )
    assert sorted(t["result"] for t in tasks) == sorted(f"done: job {i}" for i in ids)
    # exactly once: each task has one final step, whatever its deliveries
    for task in tasks[:10] + [t for t in tasks if t["id"] in refused]:
        assert _steps(crashy, task["id"]).count("final") == 1
