"""Worker starts and rollouts on a real engine: workers forked by the engine's fork server (or
exec'd when forking is off), a killed worker coming back, a rollout that rolls only the agents
whose own configuration changed, and a slow start waited for while the worker shows life."""

from __future__ import annotations

import functools
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.project import Project, open_project, wait_for

SLOW_SERVER = """\
import os, runpy, sys, time
time.sleep(float(os.environ.get("SLOW_START", "0")))
sys.argv = ["server.py"]
runpy.run_path("server.py", run_name="__main__")
"""


def _spec(
    helper_instructions: str = "Help.",
    helper_timeout: str = "60s",
    helper_description: str = "Helps with anything.",
) -> dict[str, Any]:
    return {
        "models": {
            "lead-model": {"provider": "scripted", "script": "scripts/lead.yaml"},
            "helper-model": {
                "provider": "scripted",
                "script": "scripts/helper.yaml",
                "timeout": helper_timeout,
            },
        },
        "agents": {
            "lead": {"model": "lead-model", "instructions": "Delegate.", "delegates": ["helper"]},
            "helper": {
                "model": "helper-model",
                "description": helper_description,
                "instructions": helper_instructions,
            },
        },
    }


SCRIPTS = {
    "lead": [
        {"match": {"tool_result": "."}, "reply": "lead says: {{ tool_result }}"},
        {"call": {"tool": "helper", "arguments": {"message": "{{ user }}"}}},
    ],
    "helper": [{"reply": "helped with {{ user }}"}],
}


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def _starts(project: Project, agent: str) -> int:
    """Workers of ``agent`` the engine has started so far (its log says each)."""
    log = (project.dir / ".agentform" / "engine" / "engine.log").read_text()
    return log.count(f"agent {agent}: started worker")


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    with open_project(tmp_path_factory.mktemp("rollouts")) as project:
        project.write(_spec(), SCRIPTS)
        project.apply()
        for agent in ("lead", "helper"):
            alone = functools.partial(lambda a: len(project.worker_pids(a)) == 1, agent)
            wait_for(alone, 60, f"one worker of {agent}")
            project.wait_ready(agent)
        yield project


def test_a_first_apply_starts_each_agent_once(team: Project) -> None:
    """The lead's configuration carries its delegate's description from planning, so it is
    not rolled once more when apply registers the delegate after it."""
    assert (_starts(team, "lead"), _starts(team, "helper")) == (1, 1)


def test_workers_are_forked_by_the_engine_s_fork_server(team: Project) -> None:
    engine_pid = int(team.engine_info()["pid"])
    for agent in ("lead", "helper"):
        [worker] = team.agent_status(agent)["workers"]
        assert worker["forked"] is True and worker["ready"] is True
        assert 0 < worker["ready_after"] < 60
        server = _ppid(worker["pid"])
        assert "agentform.runtime forks" in _cmdline(server)
        assert _ppid(server) == engine_pid  # the fork server is the engine's child
    # a task runs through both forked workers, delegation included
    task = team.wait_task(team.submit("lead", "the move")["id"], timeout=60)
    assert task["result"] == "lead says: helped with the move", task


def test_a_killed_forked_worker_is_restarted_and_answers(team: Project) -> None:
    [before] = team.worker_pids("helper").values()
    os.kill(before, signal.SIGKILL)  # by pid, as the health check and an operator do

    def replaced() -> dict[str, Any] | None:
        [worker] = team.agent_status("helper")["workers"]
        return worker if worker["alive"] and worker["ready"] and worker["pid"] != before else None

    worker = wait_for(replaced, 60, "the killed helper to come back")
    assert worker["forked"] is True and worker["last_exit"] == -signal.SIGKILL
    task = team.wait_task(team.submit("helper", "after the kill")["id"], timeout=60)
    assert task["result"] == "helped with after the kill", task


def test_a_killed_fork_server_is_replaced_and_its_workers_come_back(team: Project) -> None:
    before = team.worker_pids("helper") | team.worker_pids("lead")
    [server] = {_ppid(pid) for pid in before.values()}
    os.kill(server, signal.SIGKILL)
    # its workers see their parent go and stop, as when the engine dies; the engine forks
    # their replacements from a new fork server

    def back() -> set[int] | None:
        now = team.worker_pids("helper") | team.worker_pids("lead")
        ready = all(team.agent_status(a)["running"] == 1 for a in ("lead", "helper"))
        fresh = len(now) == 2 and now.keys().isdisjoint(before)
        return {_ppid(pid) for pid in now.values()} if ready and fresh else None

    [replacement] = wait_for(back, 60, "both agents' workers forked again")
    assert replacement != server and "agentform.runtime forks" in _cmdline(replacement)
    task = team.wait_task(team.submit("lead", "the new server")["id"], timeout=60)
    assert task["result"] == "lead says: helped with the new server", task


@pytest.mark.parametrize(
    ("instructions", "timeout"),
    [("Help, briefly.", "60s"), ("Help, briefly.", "50s")],
    ids=["delegate-instructions", "delegate-model"],
)
def test_a_delegate_change_rolls_the_delegate_only(
    team: Project, instructions: str, timeout: str
) -> None:
    lead_pids, helper_pids = team.worker_pids("lead"), team.worker_pids("helper")
    lead_starts, helper_starts = _starts(team, "lead"), _starts(team, "helper")
    # the delegate's instructions, then its model: nothing the lead's workers use
    team.write(_spec(instructions, helper_timeout=timeout), SCRIPTS)
    team.apply()

    def rolled() -> bool:
        status = team.agent_status("helper")
        alive = [w for w in status["workers"] if w["alive"]]
        return len(alive) == 1 and alive[0]["config_hash"] == status["config_hash"]

    wait_for(rolled, 60, "the helper to run its new configuration")
    assert team.worker_pids("helper").keys().isdisjoint(helper_pids)
    assert _starts(team, "helper") == helper_starts + 1
    assert team.worker_pids("lead") == lead_pids
    assert _starts(team, "lead") == lead_starts
    task = team.wait_task(team.submit("lead", "the rollout")["id"], timeout=60)
    assert task["result"] == "lead says: helped with the rollout", task


def test_a_delegate_s_new_description_is_planned_on_the_lead_and_rolls_both(team: Project) -> None:
    """What the lead's model is offered changes: plan says so on the lead too, apply rolls it."""
    lead_starts, helper_starts = _starts(team, "lead"), _starts(team, "helper")
    team.write(_spec("Help, briefly.", "50s", "Helps with moves."), SCRIPTS)
    planned = team.cli("plan", "--json")
    assert planned.returncode in (0, 2), planned.stderr
    changes = {
        c["address"]: c["action"]
        for c in json.loads(planned.stdout)["changes"]
        if c["action"] != "no-op"
    }
    assert changes == {"agent.lead": "update", "agent.helper": "update"}, changes
    team.apply()

    def rolled() -> bool:
        return all(
            _starts(team, a) == n + 1
            and len(team.worker_pids(a)) == 1
            and team.agent_status(a)["running"] == 1
            for a, n in (("lead", lead_starts), ("helper", helper_starts))
        )

    wait_for(rolled, 60, "both agents rolled once")
    task = team.wait_task(team.submit("lead", "the new words")["id"], timeout=60)
    assert task["result"] == "lead says: helped with the new words", task


@pytest.fixture
def slow_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """An engine whose rollouts give up after 2 s without a sign of life, and whose workers are
    exec'd (``AGENTFORM_WORKER_START=exec``): both read by the engine when it starts."""
    monkeypatch.setenv("AGENTFORM_READY_TIMEOUT", "2")
    monkeypatch.setenv("AGENTFORM_WORKER_START", "exec")
    with open_project(tmp_path / "slow") as project:
        yield project


def test_a_slow_start_is_waited_for_while_the_worker_shows_life(slow_engine: Project) -> None:
    spec: dict[str, Any] = {
        "models": {"m": {"provider": "scripted", "script": "scripts/m.yaml"}},
        "tools": {
            "toys": {
                "mcp": {"command": ["python", "slow_server.py"], "env": {"SLOW_START": "6"}},
                "side_effects": "none",
            }
        },
        "agents": {"patient": {"model": "m", "instructions": "Echo.", "tools": ["toys"]}},
    }
    scripts = {
        "m": [
            {"match": {"tool_result": "."}, "reply": "got {{ tool_result }}"},
            {"call": {"tool": "echo", "arguments": {"text": "{{ user }}"}}},
        ]
    }
    slow_engine.write(spec, scripts, toys=True)
    (slow_engine.dir / "slow_server.py").write_text(SLOW_SERVER)
    # the tool server takes 6 s to start, three times the timeout: the worker heartbeats
    # "starting" all along, so apply waits for it instead of rolling it back after 2 s
    slow_engine.apply()
    [worker] = slow_engine.agent_status("patient")["workers"]
    assert worker["ready"] is True and worker["forked"] is False  # exec'd, as asked
    assert worker["ready_after"] > 6
    task = slow_engine.wait_task(slow_engine.submit("patient", "hi")["id"], timeout=60)
    assert task["result"] == "got toys:hi", task
