"""How long a rollout waits (:func:`agentform.runtime.host.rollout.rolled_out`): it follows the
new worker's signs of life instead of a fixed deadline. A unit test of the rollout module with a
plain object for the engine and real processes standing in for workers: one that sleeps (no
sign of life), one that burns CPU (starting, slowly), one that heartbeats and then is ready."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agentform.runtime.bus import BusLayout
from agentform.runtime.errors import EngineError
from agentform.runtime.host import rollout
from agentform.runtime.host.supervisor import AgentGroup, Replica
from agentform.runtime.worker.config import agent_configs


def _engine(tmp_path: Path) -> tuple[Any, AgentGroup]:
    [(config, _)] = agent_configs(
        {
            "model.m": {"provider": "scripted", "script": "m.yaml"},
            "agent.a": {"model": "m"},
        },
        project="p",
        base_dir=tmp_path,
        bus_url="nats://127.0.0.1:4222",
        store_url="sqlite:////tmp/rt.db",
        layout=BusLayout("p"),
    ).values()
    group = AgentGroup("a", config, 1, tmp_path)
    group.stopped = True  # no supervision pass starts anything: the test's process is the worker
    group.log_path().parent.mkdir(parents=True)
    group.log_path().write_text("starting up\n")
    engine = SimpleNamespace(groups={"a": group}, nc=None)
    group.members.append(Replica(slot=0, config_hash=config.config_hash, worker_id="a-0"))
    return engine, group


async def _run(group: AgentGroup, command: list[str]) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(*command)
    group.members[0].process = process
    group.members[0].started_at = time.monotonic()
    return process


@pytest.mark.parametrize("timeout", [0.5, 1.0], ids=["0.5s", "1s"])
def test_a_worker_that_shows_no_life_fails_the_rollout_after_the_timeout(
    tmp_path: Path, timeout: float
) -> None:
    engine, group = _engine(tmp_path)

    async def main() -> float:
        process = await _run(group, ["sleep", "30"])
        began = time.monotonic()
        try:
            with pytest.raises(EngineError, match="showed no sign of life") as failed:
                await rollout.rolled_out(engine, "a", timeout=timeout)
            assert "starting up" in str(failed.value)  # with its log lines
            return time.monotonic() - began
        finally:
            process.kill()
            await process.wait()

    waited = asyncio.run(main())
    assert timeout <= waited < timeout + 3


def test_a_worker_busy_starting_is_waited_for_up_to_ten_times_the_timeout(
    tmp_path: Path,
) -> None:
    engine, group = _engine(tmp_path)

    async def main() -> float:
        process = await _run(group, [sys.executable, "-c", "while True: pass"])
        began = time.monotonic()
        try:
            with pytest.raises(EngineError, match="kept starting"):
                await rollout.rolled_out(engine, "a", timeout=0.4)
            return time.monotonic() - began
        finally:
            process.kill()
            await process.wait()

    waited = asyncio.run(main())
    assert 4.0 <= waited < 8.0  # its CPU time kept it alive until the ceiling


def test_starting_heartbeats_extend_the_wait_and_a_ready_one_ends_it(tmp_path: Path) -> None:
    engine, group = _engine(tmp_path)

    async def main() -> float:
        process = await _run(group, ["sleep", "30"])

        async def worker() -> None:
            for _ in range(8):  # 2 s of "starting" heartbeats, four times the timeout
                await asyncio.sleep(0.25)
                group.heard("a-0")
            group.mark_ready("a-0")

        beats = asyncio.create_task(worker())
        began = time.monotonic()
        try:
            await rollout.rolled_out(engine, "a", timeout=0.5)
            return time.monotonic() - began
        finally:
            await beats
            process.kill()
            await process.wait()

    waited = asyncio.run(main())
    assert 1.9 <= waited < 4.0
    assert group.members[0].ready_after is not None and group.members[0].ready_after >= 1.9


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("", 60.0), ("5", 5.0), ("2.5", 2.5), ("0", 60.0), ("soon", 60.0)],
    ids=["unset", "integer", "fraction", "zero", "not-a-number"],
)
def test_the_timeout_comes_from_the_engine_s_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, seconds: float
) -> None:
    monkeypatch.setenv("AGENTFORM_READY_TIMEOUT", value)
    assert rollout.ready_timeout() == seconds


class _Ended:
    """A worker process that has exited."""

    pid = 0
    returncode = -9


@pytest.mark.parametrize(
    ("ready", "lived", "quick_exits", "delay"),
    [
        (False, 1.0, 1, 0.2),  # never ready: crashed at start, backed off
        (False, 1.0, 3, 0.8),  # again: the back-off grows
        (True, 1.0, 0, 0.2),  # ready, then killed: restarted at once (a short pause)
        (True, 60.0, 0, 0.0),  # ran a while: replaced in this same pass
    ],
    ids=["crash-at-start", "crash-again", "killed-after-ready", "ran-a-while"],
)
def test_a_worker_killed_after_it_was_ready_is_not_backed_off(
    tmp_path: Path, ready: bool, lived: float, quick_exits: int, delay: float
) -> None:
    _, group = _engine(tmp_path)
    replica = Replica(0, group.config.config_hash, worker_id="w", ready=ready)
    replica.quick_exits = quick_exits - 1 if not ready else 4  # earlier crashes at start
    replica.process = _Ended()  # type: ignore[assignment]
    now = 1000.0
    replica.started_at = now - lived
    group._exited(replica, now)
    assert replica.quick_exits == quick_exits
    assert replica.next_start - now == pytest.approx(delay)
    assert replica.restarts == 1 and replica.last_exit == -9
