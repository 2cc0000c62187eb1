"""Schedules on real engines: fires as tasks with caller ``schedule:NAME``, the CLI's list, run,
pause and resume (and who may), a pause that outlives an engine restart, a fire refused by its
agent's rate limit, apply's enable/disable/remove, and a schedule removed with its agent in one
apply.

One engine with its embedded nats-server and SQLite store, driven through the real CLI
(``agentform apply``, ``agentform schedules ...``). Two engines on one store and bus, and a
leader killed: :mod:`tests.runtime.test_schedules_leader`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from agentform.runtime.host.client import EngineRequestError
from agentform.runtime.scheduler.leader import TTL_ENV
from tests.runtime.project import Project, open_project, wait_for

TTL = "2"  # seconds: the scheduler lease of these engines


def spec(schedules: dict[str, Any], agents: tuple[str, ...] = ("clerk",)) -> dict[str, Any]:
    return {
        "models": {"script": {"provider": "scripted", "script": "scripts/echo.yaml"}},
        "agents": {name: {"model": "script"} for name in agents},
        "schedules": schedules,
        # vic may read the schedules (read:tasks), not fire or pause them (admin:*)
        "access": {"roles": {"viewers": ["read:tasks"]}, "members": {"vic": ["viewers"]}},
    }


TICK = {"agent": "clerk", "interval": "1s", "input": "tick"}
BY_HAND = {"agent": "clerk", "cron": "0 0 1 1 *", "input": "by hand"}


def fired(project: Project, name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = project.client.request(
        "GET", "/v1/tasks", params={"caller": f"schedule:{name}", "limit": 1000}, timeout=15
    )
    return found


def listed(project: Project) -> dict[str, dict[str, Any]]:
    done = project.cli("schedules", "list", "--json")
    assert done.returncode == 0, done.stderr
    return {s["name"]: s for s in json.loads(done.stdout)["schedules"]}


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: pytest.MonkeyPatch
) -> Iterator[Project]:
    monkeypatch_module.setenv(TTL_ENV, TTL)
    with open_project(tmp_path_factory.mktemp("schedules")) as found:
        found.write(
            spec({"tick": TICK, "by-hand": BY_HAND}), {"echo": [{"reply": "echo: {{ user }}"}]}
        )
        found.apply()
        found.wait_ready("clerk")
        yield found


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_an_interval_schedule_fires_tasks_with_its_caller(project: Project) -> None:
    tasks = wait_for(lambda: fired(project, "tick")[2:], 60, "three fires of schedule tick")
    task = project.wait_task(tasks[-1]["id"])
    assert task["caller"] == "schedule:tick"
    assert task["status"] == "completed" and task["result"] == "echo: tick"
    found = listed(project)["tick"]
    assert found["next_run_at"] and found["last_run_at"] and found["runs"] >= 3
    assert found["last_outcome"] in ("submitted", "working", "completed")
    # the human listing shows the same
    done = project.cli("schedules", "list")
    assert done.returncode == 0 and "tick" in done.stdout and "every 1s" in done.stdout


def test_run_fires_now_and_pause_and_resume_from_the_cli(project: Project) -> None:
    assert not fired(project, "by-hand")  # once a year: never on its own in this test
    done = project.cli("schedules", "run", "by-hand")
    assert done.returncode == 0, done.stderr
    task_id = done.stdout.strip().rsplit(" ", 1)[-1]
    task = project.wait_task(task_id)
    assert task["caller"] == "schedule:by-hand" and task["result"] == "echo: by hand"
    by_caller = project.cli("tasks", "list", "--caller", "schedule:by-hand", "--json")
    assert by_caller.returncode == 0, by_caller.stderr
    assert [t["id"] for t in json.loads(by_caller.stdout)] == [task_id]

    assert project.cli("schedules", "pause", "tick").returncode == 0
    time.sleep(float(TTL))  # one in flight may still land
    before = len(fired(project, "tick"))
    time.sleep(3)
    assert len(fired(project, "tick")) == before
    assert listed(project)["tick"]["paused"] is True
    assert "paused" in project.cli("schedules", "list").stdout

    assert project.cli("schedules", "resume", "tick").returncode == 0
    wait_for(lambda: len(fired(project, "tick")) >= before + 2, 30, "fires after resume")
    assert listed(project)["tick"]["paused"] is False


def test_a_pause_outlives_an_engine_restart(project: Project) -> None:
    assert project.cli("schedules", "pause", "tick").returncode == 0
    assert project.cli("engine", "stop").returncode == 0
    assert project.cli("engine", "start").returncode == 0
    project.wait_ready("clerk")
    assert listed(project)["tick"]["paused"] is True
    before = len(fired(project, "tick"))
    time.sleep(3)
    assert len(fired(project, "tick")) == before
    assert project.cli("schedules", "resume", "tick").returncode == 0
    wait_for(lambda: len(fired(project, "tick")) > before, 30, "a fire after resume")


def test_reading_needs_read_tasks_and_firing_or_pausing_needs_admin(project: Project) -> None:
    done = project.cli("tokens", "create", "vic")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    shown = project.cli("--token", token, "schedules", "list")
    assert shown.returncode == 0 and "tick" in shown.stdout, shown.stderr
    for verb in ("run", "pause", "resume"):
        refused = project.cli("--token", token, "schedules", verb, "tick")
        assert refused.returncode == 1
        assert "'vic' may not" in refused.stderr and "admin:*" in refused.stderr, refused.stderr
    assert listed(project)["tick"]["paused"] is False  # nothing the refusals asked happened


def test_a_fire_refused_by_the_agents_rate_limit_is_recorded_not_raised(
    project: Project,
) -> None:
    rules = {"echo": [{"reply": "echo: {{ user }}"}]}
    limited = spec({"tick": TICK, "burst": {"agent": "capped", "interval": "1s", "input": "b"}})
    limited["agents"]["capped"] = {"model": "script", "rate_limit": {"per_caller": "2/minute"}}
    project.write(limited, rules)
    project.apply()

    def refused() -> dict[str, Any] | None:
        found = listed(project)["burst"]
        return found if str(found["last_outcome"]).startswith("not submitted") else None

    found = wait_for(refused, 60, "a fire of burst past its agent's rate limit")
    assert "takes at most 2/minute from one caller" in found["last_outcome"]
    assert len(fired(project, "burst")) == 2  # the schedule is its caller: two a minute
    records = project.cli("audit", "list", "--kind", "rate.limited", "--json")
    assert any(r["actor"] == "schedule:burst" for r in json.loads(records.stdout))
    project.write(spec({"tick": TICK, "by-hand": BY_HAND}), rules)
    project.apply()


def test_a_schedule_sent_without_a_usable_trigger_is_refused_in_one_line(
    project: Project,
) -> None:
    bad = {"agent": "clerk", "cron": "0 9 * * *", "timezone": "Mars/Olympus"}
    with pytest.raises(EngineRequestError) as refused:
        project.client.request("PUT", "/v1/resources/schedule.bad", body={"values": bad})
    assert refused.value.status == 400
    assert str(refused.value).startswith("schedule.bad has no usable trigger (")
    assert "bad" not in listed(project)


def test_unknown_schedule_is_a_one_line_error(project: Project) -> None:
    done = project.cli("schedules", "run", "nope")
    assert done.returncode == 1
    assert done.stderr.strip() == "error: no schedule named 'nope' is declared here"


def test_apply_disables_changes_and_removes_and_an_agent_goes_with_its_schedule(
    project: Project,
) -> None:
    rules = {"echo": [{"reply": "echo: {{ user }}"}]}
    # enabled: false stops it; the spec is the lasting way
    project.write(spec({"tick": {**TICK, "enabled": False}, "by-hand": BY_HAND}), rules)
    project.apply()
    time.sleep(float(TTL))
    before = len(fired(project, "tick"))
    time.sleep(2.5)
    assert len(fired(project, "tick")) == before
    assert listed(project)["tick"]["next_run_at"] is None

    # a second agent with a schedule, then both removed in one apply
    project.write(
        spec(
            {"tick": TICK, "other": {"agent": "helper", "interval": "1s", "input": "hi"}},
            ("clerk", "helper"),
        ),
        rules,
    )
    project.apply()
    wait_for(lambda: fired(project, "other"), 30, "a fire of schedule other")
    project.write(spec({"tick": TICK}), rules)
    project.apply()
    assert set(listed(project)) == {"tick"}
    count = len(fired(project, "tick"))
    wait_for(lambda: len(fired(project, "tick")) > count, 30, "schedule tick firing on")
    assert project.status()["pid"]  # nothing crashed: the engine answers, and logged no traceback
    assert "Traceback" not in (project.client.dir / "engine.log").read_text()
