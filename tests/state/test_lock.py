"""Lock records, the message naming the holder, and when a holder counts as gone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from agentform.state import LockInfo, LockNotFound, StateLocked
from agentform.state.lock import advisory_key, is_stale, pid_alive

SINCE = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
ALICE = LockInfo(id="L1", owner="alice", host="host", pid=123, operation="apply", since=SINCE)


def test_locked_message_names_the_holder_and_the_way_out() -> None:
    assert str(StateLocked(ALICE)) == (
        "state is locked by alice@host (pid 123, apply) since 2026-11-24 20:00 UTC; wait for it "
        'to finish, or if that process is gone run "agentform force-unlock L1"'
    )


@pytest.mark.parametrize(
    ("current", "needle"),
    [(None, "the state is not locked"), (ALICE, "alice@host (pid 123, apply)")],
    ids=["unlocked", "other-lock"],
)
def test_lock_not_found_message(current: LockInfo | None, needle: str) -> None:
    message = str(LockNotFound("nope", current))
    assert "nope" in message
    assert needle in message


def test_for_this_process() -> None:
    info = LockInfo.for_this_process("plan")
    assert (info.pid, info.host, info.operation) == (os.getpid(), socket.gethostname(), "plan")
    assert info.since.tzinfo is UTC


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


HERE = socket.gethostname()
NOW = datetime.now(UTC)


@pytest.mark.parametrize(
    ("host", "pid", "expires_at", "stale"),
    [
        (HERE, os.getpid(), NOW - timedelta(hours=1), False),
        (HERE, _dead_pid(), NOW + timedelta(hours=1), True),
        ("elsewhere", os.getpid(), NOW + timedelta(minutes=1), False),
        ("elsewhere", os.getpid(), NOW - timedelta(minutes=1), True),
    ],
    ids=["here-alive-expired", "here-dead", "elsewhere-unexpired", "elsewhere-expired"],
)
def test_is_stale(host: str, pid: int, expires_at: datetime, stale: bool) -> None:
    holder = LockInfo(id="x", owner="o", host=host, pid=pid, operation="apply", since=NOW)
    assert is_stale(holder, expires_at, NOW) is stale


def test_an_unreaped_killed_child_is_not_alive() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert pid_alive(proc.pid)
        proc.kill()
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # dead, still a zombie
        assert not pid_alive(proc.pid)
    finally:
        proc.wait()


def test_advisory_key_is_a_stable_signed_bigint() -> None:
    key = advisory_key("demo", "dev")
    assert key == advisory_key("demo", "dev") != advisory_key("demo", "prod")
    assert -(2**63) <= key < 2**63
