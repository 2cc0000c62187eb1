"""Circuit breakers end to end: a real engine, NATS, the toys MCP server as a ledger, SQLite.

Scripted models stuck in loops: one that calls the ledger with the same arguments forever, one
whose breaker asks a human, one that goes on with its fallback, and two agents handing a task
back and forth. Each is stopped by its breaker with the reason, the ledger shows exactly the
calls allowed, the trip is a step ``tasks show`` prints, and the audit log has it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.runtime.project import Project, open_project, wait_for

LEDGER = {"command": ["python", "server.py"]}


@pytest.fixture(scope="module")
def looping(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    directory = tmp_path_factory.mktemp("looping")
    with open_project(directory) as project:
        mcp = {**LEDGER, "env": {"TOYS_COUNTER_FILE": str(directory / "ledger.txt")}}
        spec: dict[str, Any] = {
            "models": {
                "stuck": {"provider": "scripted", "script": "scripts/stuck.yaml"},
                "careful": {"provider": "scripted", "script": "scripts/careful.yaml"},
                "stuck-with-fallback": {
                    "provider": "scripted",
                    "script": "scripts/stuck.yaml",
                    "fallback": ["careful"],
                },
                "relay": {"provider": "scripted", "script": "scripts/relay.yaml"},
            },
            "tools": {
                "ledger": {"mcp": mcp, "side_effects": "unsafe", "expose": ["counter"]},
            },
            "agents": {
                "looper": {
                    "model": "stuck",
                    "tools": ["ledger"],
                    "limits": {"max_steps": 40},
                    "circuit_breaker": {"max_identical_calls": 3},
                },
                "asker": {
                    "model": "stuck",
                    "tools": ["ledger"],
                    "limits": {"max_steps": 40},
                    "circuit_breaker": {"max_identical_calls": 2, "on_trip": "ask_human"},
                },
                "switcher": {
                    "model": "stuck-with-fallback",
                    "tools": ["ledger"],
                    "limits": {"max_steps": 40},
                    "circuit_breaker": {"max_identical_calls": 2, "on_trip": "fallback_model"},
                },
                "ping": {
                    "model": "relay",
                    "delegates": ["pong"],
                    "limits": {"max_depth": 20},
                    "circuit_breaker": {"max_ping_pong": 1},
                },
                "pong": {
                    "model": "relay",
                    "delegates": ["ping"],
                    "limits": {"max_depth": 20},
                    "circuit_breaker": {},
                },
            },
            # an unsafe tool needs an approval or deny policy: this one never matches
            "policies": {
                "never": {"tools": ["ledger"], "effect": "deny", "when": "args.label == 'x'"}
            },
            "access": {"roles": {"users": ["invoke:*"]}},
        }
        scripts = {
            # calls the ledger with the same label, whatever it hears back
            "stuck": [{"call": {"tool": "counter", "arguments": {"label": "{{ user }}"}}}],
            "careful": [{"reply": "stopped looping: {{ tool_result }}"}],
            # hands the task over to the other one; answers once someone answered it
            "relay": [
                {"match": {"tool_result": "."}, "reply": "gave up: {{ tool_result }}"},
                {"call": {"tool": "pong", "arguments": {"message": "over to you"}}},
            ],
        }
        project.write(spec, scripts, toys=True)
        relay = project.dir / "scripts" / "relay.yaml"
        # ping calls pong and pong calls ping: pong's rule file names the other one
        (project.dir / "scripts" / "relay-pong.yaml").write_text(
            relay.read_text().replace("tool: pong", "tool: ping")
        )
        text = (project.dir / "agentform.yaml").read_text()
        text = text.replace(
            "  relay:\n    provider: scripted\n    script: scripts/relay.yaml\n",
            "  relay:\n    provider: scripted\n    script: scripts/relay.yaml\n"
            "  relay-pong:\n    provider: scripted\n    script: scripts/relay-pong.yaml\n",
        )
        text = text.replace("  pong:\n    model: relay\n", "  pong:\n    model: relay-pong\n")
        (project.dir / "agentform.yaml").write_text(text)
        project.apply()
        for agent in ("looper", "asker", "switcher", "ping", "pong"):
            project.wait_ready(agent)
        yield project


def _ledger(project: Project, label: str) -> int:
    path = project.dir / "ledger.txt"
    lines = path.read_text().splitlines() if path.exists() else []
    return lines.count(label)


def _audit(project: Project, task_id: str) -> list[dict[str, Any]]:
    listed = project.cli("audit", "list", "--task", task_id, "--kind", "breaker", "--json")
    assert listed.returncode == 0, listed.stderr
    return list(json.loads(listed.stdout))


def test_a_loop_of_identical_unsafe_calls_stops_at_the_limit(looping: Project) -> None:
    task = looping.wait_task(looping.submit("looper", "loop-1")["id"], timeout=60)
    assert task["status"] == "failed", task
    assert "circuit breaker tripped (identical calls)" in task["error"]
    assert "max_identical_calls 3" in task["error"]
    assert _ledger(looping, "loop-1") == 3  # the fourth call was never made
    shown = looping.cli("tasks", "show", task["id"])
    assert shown.returncode == 0, shown.stderr
    assert "breaker tripped on counter" in shown.stdout and "the task fails" in shown.stdout
    [record] = _audit(looping, task["id"])
    assert record["kind"] == "breaker.tripped"
    assert looping.cli("audit", "verify").returncode == 0
    # status counts the agent's trips of the last hour
    assert looping.agent_status("looper")["trips_last_hour"] >= 1
    assert looping.agent_status("switcher")["trips_last_hour"] == 0  # its test comes later
    status = looping.cli("status")
    assert status.returncode == 0, status.stderr
    assert "circuit breaker tripped" in status.stdout, status.stdout


def test_on_trip_ask_human_waits_for_an_approval(looping: Project) -> None:
    task_id = looping.submit("asker", "ask-1")["id"]

    def waiting() -> dict[str, Any] | None:
        task = looping.task(task_id)
        return task if task["status"] == "input-required" else None

    wait_for(waiting, 60, "the tripped task to wait for a human")
    assert _ledger(looping, "ask-1") == 2
    listed = looping.cli("approvals", "list", "--json")
    [request] = [r for r in json.loads(listed.stdout) if r["task_id"] == task_id]
    assert request["kind"] == "breaker" and request["id"].endswith("#trip")
    # go on once: the call is made, the next identical call trips again and waits again
    done = looping.cli("approvals", "approve", request["id"], "--reason", "one more")
    assert done.returncode == 0, done.stderr

    def asked_again() -> list[dict[str, Any]] | None:
        listed = json.loads(looping.cli("approvals", "list", "--json").stdout)
        pending = [r for r in listed if r["task_id"] == task_id and r["status"] == "pending"]
        return pending or None

    [again] = wait_for(asked_again, 60, "the breaker to ask again")
    assert _ledger(looping, "ask-1") == 3
    denied = looping.cli("approvals", "deny", again["id"], "--reason", "it is looping")
    assert denied.returncode == 0, denied.stderr
    task = looping.wait_task(task_id, timeout=60)
    assert task["status"] == "failed" and "did not let the agent go on" in task["error"], task
    assert _ledger(looping, "ask-1") == 3


def test_on_trip_fallback_model_goes_on_with_the_fallback(looping: Project) -> None:
    task = looping.wait_task(looping.submit("switcher", "switch-1")["id"], timeout=60)
    assert task["status"] == "completed", task
    assert task["result"].startswith("stopped looping: circuit breaker tripped"), task
    assert _ledger(looping, "switch-1") == 2


def test_ping_pong_between_two_agents_is_stopped(looping: Project) -> None:
    task = looping.wait_task(looping.submit("ping", "start")["id"], timeout=90)
    assert task["status"] == "completed", task
    # pong's hand back to ping trips (the default max_ping_pong 1), before the runtime's
    # deadlock avoidance would refuse the child; ping hears why
    assert task["result"].startswith("gave up: the agent 'pong' did not answer"), task
    assert "back and forth between ping and pong" in task["result"], task
    assert "deadlock" not in task["result"], task
    listed = looping.cli("audit", "list", "--kind", "breaker", "--json")
    trips = [r for r in json.loads(listed.stdout) if "ping_pong" in json.dumps(r)]
    assert len(trips) == 1
