"""Editing a file the spec points at, on a real engine: plan shows it, apply rolls the workers.

A scripted model's rule file and a stdio MCP server's code are files the spec names, not values
of it. Before their content was fingerprinted into the plan (:mod:`agentform.referenced_files`),
an edit left ``plan`` at "No changes" and the workers answering by the old rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.runtime.project import Project, open_project, wait_for

SPEC: dict[str, Any] = {
    "models": {
        "m": {"provider": "scripted", "script": "scripts/m.yaml"},
        "clerk": {"provider": "scripted", "script": "scripts/clerk.yaml"},
    },
    "tools": {"toys": {"mcp": {"command": ["python", "server.py"]}, "side_effects": "none"}},
    "agents": {
        "helper": {"model": "m", "instructions": "Help."},
        "clerk": {"model": "clerk", "instructions": "Echo it.", "tools": ["toys"]},
    },
    "access": {
        "roles": {"users": ["invoke:helper", "invoke:clerk"]},
        "members": {"tester": ["users"]},
    },
}
SCRIPTS = {
    "m": [{"reply": "old rules"}],
    "clerk": [
        {"match": {"tool_result": ":"}, "reply": "echoed {{ tool_result }}"},
        {"call": {"tool": "echo", "arguments": {"text": "{{ user }}"}}},
    ],
}


def _send(project: Project, agent: str, text: str) -> str:
    done = project.cli("send", agent, text, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def _rolled_out(project: Project, agent: str) -> None:
    """The agent's live workers all run its current configuration (the old ones are gone)."""

    def done() -> bool:
        status = project.agent_status(agent)
        alive = [w for w in status["workers"] if w["alive"]]
        return bool(alive) and all(
            w["config_hash"] == status["config_hash"] and w["ready"] for w in alive
        )

    wait_for(done, 120, f"{agent}'s workers to run its new configuration")


def _plan(project: Project) -> str:
    done = project.cli("plan", "--detailed-exitcode")
    assert done.returncode == 2, done.stdout + done.stderr
    return done.stdout


def test_an_edited_rule_file_and_server_show_in_plan_and_apply_rolls_the_workers(
    tmp_path: Path,
) -> None:
    with open_project(tmp_path) as project:
        project.write(SPEC, SCRIPTS, toys=True)
        project.apply()
        project.wait_ready("helper", timeout=120)
        project.wait_ready("clerk", timeout=120)
        assert _send(project, "helper", "hi") == "old rules"
        assert _send(project, "clerk", "hi") == "echoed toys:hi"
        assert project.cli("plan", "--detailed-exitcode").returncode == 0

        # the rule file: plan names it, apply rolls the agent, the new rule answers
        project.write(SPEC, {**SCRIPTS, "m": [{"reply": "new rules"}]}, toys=True)
        plan = _plan(project)
        assert "~ model.m  (update in place)" in plan
        assert "# script file scripts/m.yaml changed" in plan
        assert "tool.toys" not in plan  # server.py was copied again, byte for byte
        helper_before = project.agent_status("helper")["config_hash"]
        project.apply()
        assert project.agent_status("helper")["config_hash"] != helper_before
        _rolled_out(project, "helper")
        assert _send(project, "helper", "hi again") == "new rules"

        # the MCP server's code: the same, for the agents that use the tool
        server = project.dir / "server.py"
        server.write_text(
            server.read_text().replace(
                "return f\"{os.environ.get('TOYS_NAME', 'toys')}:{text}\"",
                'return f"edited:{text}"',
            )
        )
        plan = _plan(project)
        assert "~ tool.toys  (update in place)" in plan
        assert "# server file server.py changed" in plan
        assert "model.m" not in plan
        clerk_before = project.agent_status("clerk")["config_hash"]
        helper_before = project.agent_status("helper")["config_hash"]
        project.apply()
        assert project.agent_status("clerk")["config_hash"] != clerk_before
        assert project.agent_status("helper")["config_hash"] == helper_before  # no toys
        _rolled_out(project, "clerk")
        assert _send(project, "clerk", "hi") == "echoed edited:hi"
        assert project.cli("plan", "--detailed-exitcode").returncode == 0
