"""How a busy worker takes new tasks (``agentform/runtime/worker/process.py``), against a real
engine, nats-server and MCP server: nearly full, it waits a few milliseconds for more slots to
free up so that one pull from the bus takes several tasks, but never longer, so a task is never
kept waiting by tasks that run for a long time."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.runtime.project import open_project


def test_a_nearly_full_worker_still_takes_a_new_task_at_once(tmp_path: Path) -> None:
    with open_project(tmp_path) as project:
        spec: dict[str, Any] = {
            "models": {"m": {"provider": "scripted", "script": "scripts/m.yaml"}},
            "tools": {
                "toys": {
                    "mcp": {"command": ["python", "server.py"]},
                    "side_effects": "none",
                    "expose": ["slow"],
                }
            },
            "agents": {
                "busy": {
                    "model": "m",
                    "tools": ["toys"],
                    # 16 slots: with 15 taken, one is free, fewer than an eighth (2)
                    "limits": {"max_concurrent_tasks": 16, "timeout": "2m"},
                }
            },
            "access": {"roles": {"users": ["invoke:*"]}},
        }
        scripts = {
            "m": [
                {"match": {"tool_result": "."}, "reply": "held"},
                {"match": {"user": "hold"}, "call": {"tool": "slow", "arguments": {"seconds": 60}}},
                {"reply": "quick"},
            ]
        }
        project.write(spec, scripts, toys=True)
        project.apply()
        project.wait_ready("busy")
        held = [project.submit("busy", "hold")["id"] for _ in range(15)]

        def running() -> int:
            tasks = [project.task(task_id) for task_id in held]
            return sum(t["status"] == "working" for t in tasks)

        deadline = time.monotonic() + 60
        while running() < 15:
            assert time.monotonic() < deadline, "the held tasks did not all start"
            time.sleep(0.2)
        started = time.monotonic()
        quick = project.submit("busy", "now")["id"]
        done = project.wait_task(quick, timeout=30)
        took = time.monotonic() - started
        assert done["status"] == "completed" and "quick" in str(done.get("result") or done)
        # not held back until more slots free up (the held tasks run for a minute)
        assert took < 20, took
        assert running() == 15
