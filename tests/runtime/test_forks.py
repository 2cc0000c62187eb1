"""The fork server (:mod:`agentform.runtime.host.forks`) on its own: a real fork server process
forking workers that end in known ways, their exit codes and log lines, and the server going
away with its engine's pipe. Killing a forked worker (by pid, and by the engine through its
pidfd) is tested with a real engine in test_rollouts.py and test_engine_faults.py."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from agentform.runtime.host import forks
from agentform.runtime.host.forks import ForkServer
from tests.runtime.project import pid_alive


def test_a_forked_worker_runs_where_and_as_asked_and_its_end_is_reported(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "a.log"
    log.parent.mkdir()
    (tmp_path / "broken.json").write_text("{not json")

    async def main() -> tuple[int, int, int]:
        server = await ForkServer.start(tmp_path)
        try:
            # a configuration the worker cannot read: it says so in its log and exits 1
            broken = await server.spawn(
                config=tmp_path / "broken.json",
                worker="a-0",
                cwd=str(tmp_path),
                env={"PATH": os.environ["PATH"], "AGENTFORM_LOG_LEVEL": "INFO"},
                log_path=log,
            )
            code = await asyncio.wait_for(broken.wait(), 60)
            # a missing one: the same, through the same server
            missing = await server.spawn(
                config=tmp_path / "missing.json",
                worker="a-1",
                cwd=str(tmp_path),
                env={"PATH": os.environ["PATH"]},
                log_path=log,
            )
            second = await asyncio.wait_for(missing.wait(), 60)
            return code, second, server._process.pid
        finally:
            await server.close()

    code, second, server_pid = asyncio.run(main())
    assert (code, second) == (1, 1)
    text = log.read_text()
    assert text.count("Traceback") == 2  # each child's own, in the agent's log
    assert "validation error for WorkerConfig" in text and "missing.json" in text
    assert not pid_alive(server_pid)  # closed with the engine's pipe


def test_forking_is_off_when_the_engine_is_told_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(forks.START, "exec")
    assert forks.enabled() is False
    monkeypatch.setenv(forks.START, "fork")
    assert forks.enabled() is True
    monkeypatch.delenv(forks.START)
    assert forks.enabled() is True


def test_the_fork_server_stops_when_its_engine_goes(tmp_path: Path) -> None:
    async def main() -> int:
        server = await ForkServer.start(tmp_path)
        pid = server._process.pid
        assert server._process.stdin is not None
        server._process.stdin.close()  # what the engine's death does to the pipe
        await asyncio.wait_for(server._process.wait(), 30)
        await server.close()
        return pid

    pid = asyncio.run(main())
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(pid)


def test_a_launched_fork_server_imports_while_its_caller_goes_on(tmp_path: Path) -> None:
    """``Forks.launch`` returns as soon as the process runs (the engine then imports its own
    modules); the first ``server()`` waits for it to be ready and gets that one, not another."""

    async def main() -> tuple[bool, int, bool]:
        launcher = forks.Forks(tmp_path)
        await launcher.launch()
        assert launcher._prestart is not None
        importing = not launcher._prestart.done()  # it has not waited for the imports
        time.sleep(0.3)  # the caller's own imports: the loop is blocked, the server is not
        server = await launcher.server()
        assert server is not None and server.alive
        assert await launcher.server() is server
        pid = server._process.pid
        await launcher.close()
        return importing, pid, server.alive

    importing, pid, still_alive = asyncio.run(main())
    assert importing and not still_alive
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(pid)


def test_the_engine_and_its_workers_name_the_same_umask_variable() -> None:
    from agentform.runtime import __main__ as entry
    from agentform.runtime.worker import process

    assert entry.USER_UMASK == process.USER_UMASK
