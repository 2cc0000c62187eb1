"""Delegation along ``delegates`` edges, on a real engine: child tasks, suspension, fan-out,
crashes on either side, limits, and the research-crew example end to end.

A delegating agent's worker lets go of its task while the children run (the parent suspends and
is published again when a child ends), so these tests also check that the parent's records never
show a child twice and that crashes on either side still end with one answer.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.project import Project, open_project, wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    directory = tmp_path_factory.mktemp("team")
    with open_project(directory) as project:
        models = ("boss", "helper", "slowpoke", "loop", "stray")
        spec = {
            "models": {m: {"provider": "scripted", "script": f"scripts/{m}.yaml"} for m in models},
            "agents": {
                "boss": {
                    "model": "boss",
                    "instructions": "Delegate.",
                    "delegates": ["helper", "slowpoke"],
                },
                "helper": {"model": "helper", "instructions": "Help."},
                "slowpoke": {
                    "model": "slowpoke",
                    "instructions": "Take your time.",
                    "limits": {"timeout": "1s"},
                },
                "looper": {
                    "model": "loop",
                    "instructions": "Ask yourself.",
                    "delegates": ["looper"],
                    "limits": {"max_depth": 2},
                },
                "stray": {"model": "stray", "instructions": "Wander.", "delegates": ["helper"]},
            },
            "access": {
                "roles": {"users": ["invoke:*"]},
                "members": {"tester": ["users"]},
            },
        }
        scripts = {
            "boss": [
                {"match": {"tool_result": "too slow"}, "reply": "gave up: {{ tool_result }}"},
                {
                    "match": {"tool_result": "(?s)(?=.*helped with A)(?=.*helped with B)"},
                    "reply": "both: {{ tool_result }}",
                },
                {"match": {"tool_result": "helped"}, "reply": "boss says: {{ tool_result }}"},
                {
                    "match": {"tool_result": "did not answer"},
                    "reply": "gave up: {{ tool_result }}",
                },
                {
                    "match": {"user": "(?i)fan"},
                    "call": [
                        {"tool": "helper", "arguments": {"message": "A"}},
                        {"tool": "helper", "arguments": {"message": "B"}},
                    ],
                },
                {
                    "match": {"user": "(?i)slow"},
                    "call": {"tool": "slowpoke", "arguments": {"message": "take ages"}},
                },
                {"call": {"tool": "helper", "arguments": {"message": "{{ user }}"}}},
            ],
            "helper": [{"delay": "1s", "reply": "helped with {{ user }}"}],
            "slowpoke": [{"delay": "5s", "reply": "too slow to matter"}],
            "loop": [
                {"match": {"tool_result": "refused"}, "reply": "stopped: {{ tool_result }}"},
                {"match": {"tool_result": "."}, "reply": "inner: {{ tool_result }}"},
                {"call": {"tool": "looper", "arguments": {"message": "again"}}},
            ],
            "stray": [
                {"match": {"tool_result": "."}, "reply": "told: {{ tool_result }}"},
                {"call": {"tool": "boss", "arguments": {"message": "let me in"}}},
            ],
        }
        project.write(spec, scripts)
        project.apply()
        for agent in ("boss", "helper", "slowpoke", "looper", "stray"):
            project.wait_ready(agent)
        yield project


def _children(project: Project, task_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = project.client.request(
        "GET", "/v1/tasks", params={"parent": task_id, "limit": 100}
    )
    return found


def test_a_delegated_task_answers_through_a_child(team: Project) -> None:
    task = team.wait_task(team.submit("boss", "do X")["id"])
    assert (task["status"], task["result"]) == ("completed", "boss says: helped with do X")
    (child,) = _children(team, task["id"])
    assert (child["agent"], child["parent_id"], child["status"]) == (
        "helper",
        task["id"],
        "completed",
    )
    calls = [s for s in task["steps"] if s["kind"] == "tool_call"]
    assert [c["data"]["child"] for c in calls] == [child["id"]]


def test_fan_out_runs_children_in_parallel_and_gathers_them(team: Project) -> None:
    task = team.wait_task(team.submit("boss", "fan out")["id"])
    assert task["status"] == "completed"
    assert "helped with A" in task["result"] and "helped with B" in task["result"]
    children = _children(team, task["id"])
    assert sorted(c["input"] for c in children) == ["A", "B"]
    # each child takes 1 s; in parallel the pair takes well under 2 s of child time end to end
    starts = sorted(c["created_at"] for c in children)
    ends = sorted(c["finished_at"] for c in children)
    assert starts[1] < ends[0], "the second child started only after the first ended"


def test_a_child_that_runs_out_of_time_fails_and_the_parent_is_told(team: Project) -> None:
    task = team.wait_task(team.submit("boss", "slow please")["id"], timeout=30)
    assert task["status"] == "completed"
    assert task["result"].startswith("gave up: the agent 'slowpoke' did not answer (failed)")
    assert "wall-time limit" in task["result"]


def test_recursive_delegation_stops_at_max_depth(team: Project) -> None:
    task = team.wait_task(team.submit("looper", "go")["id"], timeout=30)
    assert task["status"] == "completed"
    # depth 0 -> 1 -> 2; the task at depth 2 is refused a third level, and each level up
    # passes the answer on (the scripted rule quotes its child's result)
    assert task["result"].count("stopped: ") == 3
    assert "delegation refused: depth limit 2 reached (this task is 2 deep)" in task["result"]
    (child,) = _children(team, task["id"])
    (grandchild,) = _children(team, child["id"])
    assert _children(team, grandchild["id"]) == []


def test_delegation_outside_the_declared_edges_is_refused_and_recorded(team: Project) -> None:
    task = team.wait_task(team.submit("stray", "hi")["id"])
    assert task["status"] == "completed"
    assert _children(team, task["id"]) == []
    result = next(s for s in task["steps"] if s["kind"] == "tool_result")["data"]
    assert result["is_error"] and "there is no tool 'boss'" in result["content"]


@pytest.mark.parametrize("victim", ["parent", "child"])
def test_a_crash_on_either_side_still_ends_with_one_answer(team: Project, victim: str) -> None:
    task_id = team.submit("boss", f"crash the {victim}")["id"]
    child = wait_for(lambda: (_children(team, task_id) or [None])[0], 15, "the child task")
    agent = "boss" if victim == "parent" else "helper"
    if victim == "child":
        wait_for(lambda: team.task(child["id"])["worker"], 10, "the child's worker")
    for pid in team.worker_pids(agent).values():
        os.kill(pid, signal.SIGKILL)
    task = team.wait_task(task_id, timeout=30)
    assert (task["status"], task["result"]) == (
        "completed",
        f"boss says: helped with crash the {victim}",
    )
    assert len(_children(team, task_id)) == 1  # a replay re-creates the same child, not a new one
    results = [s for s in task["steps"] if s["kind"] == "tool_result"]
    assert len(results) == 1


def test_research_crew_runs_end_to_end_with_fan_out(tmp_path: Path) -> None:
    directory = tmp_path / "crew"
    shutil.copytree(
        ROOT / "examples" / "research-crew", directory, ignore=shutil.ignore_patterns(".agentform")
    )
    with open_project(directory) as project:
        project.apply()
        project.wait_ready("lead")
        done = project.cli("send", "lead", "Does a four-day week work?", "--follow", timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Brief: does a four-day week work?" in done.stdout
        for specialist in ("literature", "data", "legal", "reviewer"):
            assert f"delegated to {specialist}" in done.stdout
        lead = project.client.request("GET", "/v1/tasks", params={"agent": "lead", "limit": 1})[0]
        children = _children(project, lead["id"])
        assert sorted(c["agent"] for c in children) == ["data", "legal", "literature", "reviewer"]
        first_three = [c for c in children if c["agent"] != "reviewer"]
        # the three specialists were asked together: all created before any answered
        assert max(c["created_at"] for c in first_three) < min(
            c["finished_at"] for c in first_three
        )
        shown = project.cli("tasks", "show", lead["id"])
        assert shown.returncode == 0 and "tree" in shown.stdout and "reviewer" in shown.stdout
