"""Faults of the running system, each met with a clear message and nothing lost.

Two real projects: ``engine`` is a small project whose engine is refused, killed and has its
files deleted, and ``faulty`` holds agents built to fail in one way each (limits, unknown tools,
hanging tools, a model endpoint that is down, a poison task, a tool server that breaks).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentform.runtime.bus.server import free_port
from tests.runtime.project import TERMINAL, Project, open_project, pid_alive, processes_of, wait_for

CLOSED = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
SERVER = ["python", "server.py"]


# -- the engine itself ----------------------------------------------------------------------

ENGINE_SPEC = {
    "models": {
        "quick": {"provider": "scripted", "script": "scripts/quick.yaml"},
        "slow": {"provider": "scripted", "script": "scripts/slow.yaml"},
    },
    "agents": {
        "greeter": {"model": "quick", "instructions": "Greet."},
        "slowpoke": {"model": "slow", "instructions": "Take your time."},
    },
    "access": {
        "roles": {"users": ["invoke:greeter", "invoke:slowpoke"]},
        "members": {"tester": ["users"]},
    },
}
ENGINE_SCRIPTS = {
    "quick": [{"reply": "hello {{ user }}"}],
    "slow": [{"delay": "2s", "reply": "slowly {{ user }}"}],
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    with open_project(tmp_path_factory.mktemp("engine")) as project:
        project.write(ENGINE_SPEC, ENGINE_SCRIPTS)
        project.apply()
        yield project


def test_send_to_an_unknown_agent_names_the_agents(engine: Project) -> None:
    done = engine.cli("send", "nope", "hi")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: no agent named 'nope' runs here (agents: greeter, slowpoke)"
    )


def test_send_without_an_engine_says_to_apply(tmp_path: Path) -> None:
    with open_project(tmp_path) as project:
        project.write(ENGINE_SPEC, ENGINE_SCRIPTS)
        done = project.cli("send", "greeter", "hi")
        assert done.returncode == 1
        assert "no engine runs for this project" in done.stderr
        assert "'agentform apply' or 'agentform engine start' starts it" in done.stderr
        assert project.cli("engine", "status").returncode == 3
        assert not processes_of(project.dir)  # asking did not start one


def test_second_engine_for_one_directory_exits_naming_the_first(engine: Project) -> None:
    first = engine.client.pid
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentform.runtime",
            "engine",
            "--dir",
            str(engine.client.dir),
            "--project",
            "rt",
            "--base-dir",
            str(engine.dir),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 3
    assert f"an engine already runs for {engine.client.dir} (pid {first})" in done.stderr
    assert engine.client.pid == first and engine.client.running()


def test_deleted_engine_files_are_restored(engine: Project) -> None:
    shutil.rmtree(engine.client.dir)
    wait_for(
        lambda: (
            (engine.client.dir / "engine.json").exists()
            and (engine.client.dir / "engine.token").exists()
        ),
        10,
        "engine.json and engine.token to come back",
    )
    done = engine.cli("send", "greeter", "again")
    assert (done.returncode, done.stdout) == (0, "hello again\n"), done.stderr


def test_killed_engine_workers_exit_and_start_restores_queued_tasks(engine: Project) -> None:
    engine.wait_ready("slowpoke")
    queued = [engine.submit("slowpoke", f"job {n}")["id"] for n in range(3)]
    workers = [*engine.worker_pids("greeter").values(), *engine.worker_pids("slowpoke").values()]
    os.kill(engine.client.pid or 0, signal.SIGKILL)

    # nothing supervises them any more: the workers stop by themselves
    wait_for(lambda: not any(pid_alive(p) for p in workers), 15, "the orphaned workers to exit")

    started = engine.cli("engine", "start")
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith("engine running (pid ")
    tasks = [engine.wait_task(task_id, timeout=30) for task_id in queued]
    assert [(t["status"], t["result"]) for t in tasks] == [
        ("completed", f"slowly job {n}") for n in range(3)
    ]
    engine.wait_ready("greeter")
    assert engine.cli("send", "greeter", "back").stdout == "hello back\n"
    # the old engine's nats-server was stopped, not left next to the new one
    servers = [c for _, c in processes_of(engine.dir) if "nats-server" in c]
    assert len(servers) == 1, servers


# -- agents built to fail ------------------------------------------------------------------


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    directory = tmp_path_factory.mktemp("faulty")

    def scripted(name: str) -> dict[str, str]:
        return {"provider": "scripted", "script": f"scripts/{name}.yaml"}

    down: dict[str, Any] = {
        "provider": "openai",
        "model": "gpt-x",
        "base_url": CLOSED,
        "max_retries": 1,
    }
    agents: dict[str, dict[str, Any]] = {
        "loopy": {"model": "loop", "tools": ["toys"], "limits": {"max_steps": 2}},
        "lost": {"model": "lost", "tools": ["toys"]},
        "hang": {"model": "hang", "tools": ["sleepy"]},
        "down": {"model": "down"},
        "rescued": {"model": "rescued"},
        "poison": {"model": "poison", "replicas": 2},
        "fragile": {"model": "lost", "tools": ["fragile"]},
    }
    spec = {
        "models": {
            **{n: scripted(n) for n in ("loop", "lost", "hang", "backup", "poison")},
            "down": down,
            "rescued": {**down, "fallback": ["backup"]},
        },
        "tools": {
            "toys": {"mcp": {"command": SERVER}, "side_effects": "none"},
            "sleepy": {
                "mcp": {"command": SERVER},
                "side_effects": "none",
                "expose": ["slow"],
                "timeout": "1s",
            },
            "fragile": {"mcp": {"command": ["python", "fragile.py"]}, "side_effects": "none"},
        },
        "agents": {n: {"instructions": f"You are {n}.", **a} for n, a in agents.items()},
        "access": {
            "roles": {"users": [f"invoke:{n}" for n in agents]},
            "members": {"tester": ["users"]},
        },
    }
    scripts = {
        "loop": [{"call": {"tool": "echo", "arguments": {"text": "again"}}}],
        "lost": [
            {"match": {"tool_result": "no tool"}, "reply": "recovered: {{ tool_result }}"},
            {"call": {"tool": "nope", "arguments": {}}},
        ],
        "hang": [
            {"match": {"tool_result": "timed out"}, "reply": "gave up: {{ tool_result }}"},
            {"call": {"tool": "slow", "arguments": {"seconds": 30}}},
        ],
        "backup": [{"reply": "answered by the fallback"}],
        "poison": [{"delay": "20s", "reply": "never"}],
    }
    with open_project(directory) as project:
        project.write(spec, scripts, toys=True)
        shutil.copy(directory / "server.py", directory / "fragile.py")
        project.apply()
        yield project


@pytest.mark.parametrize(
    ("agent", "status", "outcome"),
    [
        ("loopy", "failed", "step limit reached: 2 model calls (max_steps 2)"),
        ("lost", "completed", "recovered: there is no tool 'nope'; available tools: add, counter"),
        ("hang", "completed", "gave up: slow timed out after 1s; it may still have run"),
        ("down", "failed", "the model failed: "),
        ("rescued", "completed", "answered by the fallback"),
    ],
    ids=["step-limit", "unknown-tool", "tool-timeout", "model-down", "model-down-fallback"],
)
def test_fault_ends_the_task_with_a_clear_outcome(
    faulty: Project, agent: str, status: str, outcome: str
) -> None:
    task = faulty.wait_task(faulty.submit(agent, "go")["id"], timeout=30)
    assert task["status"] == status, task
    assert (task["result"] or task["error"]).startswith(outcome)


def test_model_down_names_the_endpoint(faulty: Project) -> None:
    done = faulty.cli("send", "down", "anyone there?")
    assert done.returncode == 1
    assert "failed: the model failed: " in done.stderr
    assert CLOSED.removesuffix("/v1").removeprefix("http://") in done.stderr


def test_poison_task_is_dead_lettered_after_max_deliver(faulty: Project) -> None:
    """Its worker dies on every delivery (SIGKILL while the model thinks)."""
    faulty.wait_ready("poison", 2)
    task_id = faulty.submit("poison", "crash me")["id"]
    killed: list[int] = []
    deadline = time.monotonic() + 60
    task: dict[str, Any] = {}
    while time.monotonic() < deadline:
        task = faulty.task(task_id)
        if task["status"] in TERMINAL:
            break
        if task["status"] == "working" and task["attempts"] > len(killed):
            pid = faulty.worker_pids("poison").get(task["worker"])
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        time.sleep(0.05)
    assert task["status"] == "failed", task
    assert (
        task["error"] == "no worker could finish it in 5 deliveries (each attempt crashed or hung)"
    )
    assert task["attempts"] == len(killed) == 5
    assert faulty.agent_status("poison")["restarts"] >= 5


def test_tool_server_that_breaks_makes_the_worker_restart_and_the_log_say_why(
    faulty: Project, request: pytest.FixtureRequest
) -> None:
    faulty.wait_ready("fragile")
    request.addfinalizer(
        lambda: shutil.copy(faulty.dir / "server.py", faulty.dir / "fragile.py")
    )  # a crash loop left running would eat the CPU the next tests need
    (faulty.dir / "fragile.py").write_text(
        "import sys\nprint('fragile: cannot open /nonexistent/db', file=sys.stderr)\nsys.exit(2)\n"
    )
    for pid in faulty.worker_pids("fragile").values():
        os.kill(pid, signal.SIGKILL)

    # every restart fails at start now: the restarts pile up (crash_looping after
    # CRASH_LOOP_AFTER of them, with backoff: too slow to wait for here)
    found = wait_for(
        lambda: (s := faulty.agent_status("fragile"))["restarts"] >= 2 and s,
        20,
        "the worker to be restarted twice",
    )
    assert found["running"] == 0
    done = faulty.cli("status")
    assert done.returncode == 0
    row = next(line for line in done.stdout.splitlines() if line.startswith("fragile "))
    assert row.split()[1] == "0/1" and row.split()[-1] in ("starting", "crash-looping")
    logs = faulty.cli("logs", "fragile").stdout
    assert "fragile: cannot open /nonexistent/db" in logs
    assert "fragile.py" in logs


def test_apply_of_an_agent_whose_tool_cannot_start_fails_naming_the_problem(
    faulty: Project,
) -> None:
    (faulty.dir / "broken.py").write_text("raise SystemExit('broken: no config file')\n")
    spec = (faulty.dir / "agentform.yaml").read_text()
    spec = spec.replace(
        "tools:\n",
        "tools:\n  broken:\n    mcp: {command: [python, broken.py]}\n    side_effects: none\n",
        1,
    )
    spec = spec.replace(
        "agents:\n", "agents:\n  doomed: {model: backup, instructions: x, tools: [broken]}\n", 1
    )
    (faulty.dir / "agentform.yaml").write_text(spec)
    done = faulty.cli("apply", "--auto-approve")
    assert done.returncode == 1
    assert "agent doomed's workers exit at start" in done.stdout + done.stderr
    assert "broken: no config file" in done.stdout + done.stderr
    # rolled back: nothing of it runs, and the other agents still work
    assert "doomed" not in [a["agent"] for a in faulty.status()["agents"]]
    assert faulty.wait_task(faulty.submit("rescued", "hi")["id"])["status"] == "completed"
