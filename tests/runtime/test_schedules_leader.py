"""Two engines on one runtime store and one NATS: exactly one fires the schedules, a pause
recorded through the standby stops the leader's fires, and when the leader is killed the other
takes over within the scheduler lease.

Two project directories with the same spec (so two engines, each with its own workers) point at
one SQLite store and at a nats-server this test starts (``runtime.bus.url: nats://...``). The
lease's time to live is shortened to :data:`TTL` seconds through the engines' environment.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from agentform.runtime.bus.server import NatsServer
from agentform.runtime.scheduler.leader import TTL_ENV
from tests.runtime.project import Project, open_project, wait_for

TTL = 2.0
WINDOW = 8  # seconds of a 1 s schedule counted while both engines run


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    server = NatsServer(tmp_path / "nats")
    try:
        yield server.start()
    finally:
        server.stop()


def _spec(nats_url: str, store: Path) -> dict[str, Any]:
    return {
        "runtime": {"bus": {"url": nats_url}, "store": {"url": f"sqlite:///{store}"}},
        "models": {"script": {"provider": "scripted", "script": "scripts/echo.yaml"}},
        "agents": {"clerk": {"model": "script"}},
        "schedules": {"tick": {"agent": "clerk", "interval": "1s", "input": "tick"}},
    }


def _leads(project: Project) -> bool:
    found: dict[str, Any] = project.client.request("GET", "/v1/schedules", timeout=10)
    return bool(found["leader"])


def _fires(project: Project) -> list[datetime]:
    tasks: list[dict[str, Any]] = project.client.request(
        "GET", "/v1/tasks", params={"caller": "schedule:tick", "limit": 1000}, timeout=15
    )
    return sorted(datetime.fromisoformat(t["created_at"]) for t in tasks)


def test_one_of_two_engines_fires_and_a_killed_leader_is_replaced_within_its_lease(
    tmp_path: Path, nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TTL_ENV, str(TTL))
    store = tmp_path / "shared" / "runtime.db"
    store.parent.mkdir()
    with open_project(tmp_path / "a") as first, open_project(tmp_path / "b") as second:
        for project in (first, second):
            project.write(_spec(nats_url, store), {"echo": [{"reply": "echo: {{ user }}"}]})
            project.apply()
            project.wait_ready("clerk")
        wait_for(lambda: _fires(first)[2:], 30, "three fires")

        # both engines run; one leads, the other stands by, and the store sees one fire a second
        assert sorted([_leads(first), _leads(second)]) == [False, True]
        start = len(_fires(first))
        time.sleep(WINDOW)
        fires = _fires(first)
        assert WINDOW - 1 <= len(fires) - start <= WINDOW + 1, fires[start:]
        gaps = [(b - a).total_seconds() for a, b in pairwise(fires[start:])]
        assert min(gaps) > 0.5, gaps  # two engines firing would put fires side by side
        logs = [(p.client.dir / "engine.log").read_text() for p in (first, second)]
        assert [log.count("this engine now runs the schedules") for log in logs].count(1) == 1

        leader, standby = (first, second) if _leads(first) else (second, first)
        # a pause recorded through the standby is acted on by the leader within TTL/3
        standby.client.request("POST", "/v1/schedules/tick/pause", body={})
        time.sleep(TTL)
        paused = len(_fires(first))
        time.sleep(3)
        assert len(_fires(first)) == paused
        standby.client.request("POST", "/v1/schedules/tick/resume", body={})
        wait_for(lambda: len(_fires(first)) > paused, 15, "fires after the standby resumed it")

        os.kill(leader.client.pid or 0, signal.SIGKILL)
        killed = time.monotonic()
        wait_for(lambda: _leads(standby), 20, "the standby to lead")
        took = time.monotonic() - killed
        # the lease runs out at most TTL after its last renewal; the standby tries every TTL/3
        assert took <= TTL + TTL / 3 + 1.5, took
        after = len(_fires(standby))
        wait_for(lambda: len(_fires(standby)) >= after + 3, 15, "fires from the new leader")
        print(f"standby led {took:.2f}s after the leader was killed (lease {TTL:g}s)")
