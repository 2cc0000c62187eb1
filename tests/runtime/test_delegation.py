"""Delegation along ``delegates`` edges, on a real engine: child tasks, suspension, fan-out,
crashes on either side, limits, and the research-crew example end to end.

A delegating agent's worker lets go of its task while the children run (the parent suspends and
is published again when a child ends), so these tests also check that the parent's records never
show a child twice and that crashes on either side still end with one answer.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import time
import uuid
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
        models = (
            *("boss", "helper", "slowpoke", "loop", "stray", "sleepy", "one", "two", "three"),
            *("brisk", "ping", "pong"),
        )
        spec = {
            "models": {m: {"provider": "scripted", "script": f"scripts/{m}.yaml"} for m in models},
            "agents": {
                "boss": {
                    "model": "boss",
                    "instructions": "Delegate.",
                    "delegates": ["helper", "aide", "slowpoke"],
                },
                "helper": {"model": "helper", "instructions": "Help."},
                "aide": {"model": "helper", "instructions": "Help too."},
                "one": {"model": "one", "instructions": "Pass on.", "delegates": ["two"]},
                "two": {"model": "two", "instructions": "Pass on.", "delegates": ["three"]},
                "three": {
                    "model": "three",
                    "instructions": "Pass on.",
                    "delegates": ["four"],
                    "limits": {"max_depth": 2},
                },
                "four": {"model": "helper", "instructions": "The end."},
                "queued": {"model": "sleepy", "instructions": "One by one.", "replicas": 2},
                "busy": {"model": "brisk", "instructions": "In order.", "replicas": 3},
                "ping": {
                    "model": "ping",
                    "instructions": "Ask pong.",
                    "delegates": ["pong"],
                    "limits": {"max_depth": 4},
                },
                "pong": {
                    "model": "pong",
                    "instructions": "Ask ping.",
                    "delegates": ["ping"],
                    "limits": {"max_depth": 4},
                },
                "picky": {
                    "model": "sleepy",
                    "instructions": "One at a time.",
                    "replicas": 2,
                    "concurrent_messages": "reject",
                },
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
                        {"tool": "aide", "arguments": {"message": "B"}},
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
            **{
                name: [
                    {"match": {"tool_result": "."}, "reply": "up: {{ tool_result }}"},
                    {"call": {"tool": after, "arguments": {"message": "on"}}},
                ]
                for name, after in (("one", "two"), ("two", "three"), ("three", "four"))
            },
            "sleepy": [{"delay": "1s", "reply": "handled {{ user }}"}],
            "brisk": [{"delay": "150ms", "reply": "handled {{ user }}"}],
            "ping": [
                {"match": {"tool_result": "."}, "reply": "ping got: {{ tool_result }}"},
                {"call": {"tool": "pong", "arguments": {"message": "pong, please"}}},
            ],
            "pong": [
                {"match": {"tool_result": "."}, "reply": "pong got: {{ tool_result }}"},
                {"call": {"tool": "ping", "arguments": {"message": "ping, please"}}},
            ],
            "stray": [
                {"match": {"tool_result": "."}, "reply": "told: {{ tool_result }}"},
                {"call": {"tool": "boss", "arguments": {"message": "let me in"}}},
            ],
        }
        project.write(spec, scripts)
        project.apply()
        for agent in ("boss", "helper", "aide", "slowpoke", "looper", "stray", "one", "four"):
            project.wait_ready(agent)
        project.wait_ready("queued", 2)
        project.wait_ready("busy", 3)
        project.wait_ready("ping")
        project.wait_ready("pong")
        project.wait_ready("picky", 2)
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
    # who asked: the operator asked the boss, the boss asked the helper
    assert (task["caller"], child["caller"]) == ("operator", "agent:boss")


def test_fan_out_runs_children_in_parallel_and_gathers_them(team: Project) -> None:
    task = team.wait_task(team.submit("boss", "fan out")["id"])
    assert task["status"] == "completed"
    assert "helped with A" in task["result"] and "helped with B" in task["result"]
    children = _children(team, task["id"])
    assert sorted((c["agent"], c["input"]) for c in children) == [("aide", "B"), ("helper", "A")]
    # each child takes 1 s; in parallel the pair takes well under 2 s of child time end to end
    starts = sorted(c["created_at"] for c in children)
    ends = sorted(c["finished_at"] for c in children)
    assert starts[1] < ends[0], "the second child started only after the first ended"


def test_a_child_that_runs_out_of_time_fails_and_the_parent_is_told(team: Project) -> None:
    task = team.wait_task(team.submit("boss", "slow please")["id"], timeout=30)
    assert task["status"] == "completed"
    assert task["result"].startswith("gave up: the agent 'slowpoke' did not answer (failed)")
    assert "wall-time limit" in task["result"]


def test_delegation_stops_at_max_depth(team: Project) -> None:
    task = team.wait_task(team.submit("one", "go")["id"], timeout=30)
    assert task["status"] == "completed"
    # one (depth 0) -> two (1) -> three (2); three's max_depth 2 refuses a third level
    assert task["result"].count("up: ") == 3
    assert "delegation refused: depth limit 2 reached (this task is 2 deep)" in task["result"]
    (two,) = _children(team, task["id"])
    (three,) = _children(team, two["id"])
    assert _children(team, three["id"]) == []


def test_a_wait_for_cycle_fails_the_newest_task_instead_of_hanging(team: Project) -> None:
    # looper delegates to itself in the same conversation: the child would wait for its own
    # parent (a conversation is handled one message at a time), which waits for the child
    task = team.wait_task(team.submit("looper", "go")["id"], timeout=30)
    assert task["status"] == "completed"
    (child,) = _children(team, task["id"])
    assert child["status"] == "failed" and "deadlock avoided" in child["error"]
    assert "deadlock avoided" in task["result"] and "did not answer" in task["result"]


def test_messages_of_one_conversation_run_one_at_a_time_in_order(team: Project) -> None:
    context = f"ctx-{uuid.uuid4().hex[:8]}"
    ids = [
        team.client.request(
            "POST",
            "/v1/tasks",
            body={"agent": "queued", "input": f"m{n}", "context_id": context},
        )["id"]
        for n in range(3)
    ]
    other = team.submit("queued", "elsewhere")["id"]
    tasks = [team.wait_task(i, timeout=30) for i in ids]
    assert [t["result"] for t in tasks] == ["handled m0", "handled m1", "handled m2"]
    # each started only after the one before it ended, though two replicas were free
    for earlier, later in itertools.pairwise(tasks):
        started = next(s for s in later["steps"] if s["kind"] == "start")["created_at"]
        assert started >= earlier["finished_at"]
    # another conversation did not wait for this one
    assert team.wait_task(other)["finished_at"] < tasks[-1]["finished_at"]


def test_an_agent_can_reject_a_busy_conversation(team: Project) -> None:
    context = f"ctx-{uuid.uuid4().hex[:8]}"
    first, second = (
        team.client.request(
            "POST", "/v1/tasks", body={"agent": "picky", "input": n, "context_id": context}
        )["id"]
        for n in ("a", "b")
    )
    assert team.wait_task(first)["status"] == "completed"
    refused = team.wait_task(second)
    assert refused["status"] == "rejected" and refused["error"].startswith("rejected:")


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


def test_an_a_b_a_wait_cycle_fails_fast_instead_of_hanging(team: Project) -> None:
    started = time.monotonic()
    task = team.wait_task(team.submit("ping", "go")["id"], timeout=30)
    assert time.monotonic() - started < 10
    (pong,) = _children(team, task["id"])
    (ping_again,) = _children(team, pong["id"])
    # the second ping would wait for the first (same conversation), which waits for it
    assert ping_again["status"] == "failed" and "deadlock avoided" in ping_again["error"]
    assert pong["status"] == "completed" and "did not answer" in pong["result"]
    assert task["status"] == "completed" and task["result"].startswith("ping got: pong got:")


def test_twenty_interleaved_conversations_each_in_order_on_three_replicas(team: Project) -> None:
    contexts = [f"conv-{n}-{uuid.uuid4().hex[:6]}" for n in range(20)]
    ids: dict[str, list[str]] = {c: [] for c in contexts}
    for turn in range(3):  # interleaved: turn 0 of every conversation, then turn 1, ...
        for context in contexts:
            body = {"agent": "busy", "input": f"{context}#{turn}", "context_id": context}
            ids[context].append(team.client.request("POST", "/v1/tasks", body=body)["id"])
    spans = []
    for context, task_ids in ids.items():
        tasks = [team.wait_task(i, timeout=60) for i in task_ids]
        assert [t["result"] for t in tasks] == [f"handled {context}#{n}" for n in range(3)]
        for earlier, later in itertools.pairwise(tasks):
            began = next(s for s in later["steps"] if s["kind"] == "start")["created_at"]
            assert began >= earlier["finished_at"], f"{context} overlapped"
        spans += [(t["created_at"], t["finished_at"], t["worker"]) for t in tasks]
    # and the conversations really ran side by side, on all three replicas
    assert len({worker for _, _, worker in spans}) == 3
