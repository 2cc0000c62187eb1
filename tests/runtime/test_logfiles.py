"""Logs kept under a size by copy and truncate, and read from an offset across a rotation."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from agentform.runtime.host.files import EngineFiles
from agentform.runtime.host.logfiles import (
    MAX_BYTES,
    backup,
    keep_rotating,
    limit,
    read_from,
    rotate,
)

LIMIT = 100


def line(n: int) -> bytes:
    return f"line {n:04d} of the log\n".encode()


L = len(line(0))  # 21 bytes: four lines stay under LIMIT, five pass it


def write(path: Path, *numbers: int) -> None:
    with path.open("ab") as out:
        for n in numbers:
            out.write(line(n))


def test_a_log_is_rotated_only_once_it_passes_the_limit(tmp_path: Path) -> None:
    log = tmp_path / "greeter.log"
    assert not rotate(log, LIMIT)  # no log yet: nothing to do
    write(log, *range(4))
    assert not rotate(log, LIMIT)
    write(log, 4)
    assert rotate(log, LIMIT)
    assert log.read_bytes() == b""
    assert backup(log, 1).read_bytes() == b"".join(line(n) for n in range(5))
    assert stat.S_IMODE(backup(log, 1).stat().st_mode) == 0o600


def test_older_copies_move_up_and_the_oldest_is_dropped(tmp_path: Path) -> None:
    log = tmp_path / "engine.log"
    for round_ in range(5):
        write(log, *(round_ * 10 + n for n in range(5)))
        assert rotate(log, LIMIT, backups=3)
    kept = {p.name: p.read_bytes()[:L] for p in sorted(tmp_path.iterdir())}
    assert kept == {
        "engine.log": b"",
        "engine.log.1": line(40),
        "engine.log.2": line(30),
        "engine.log.3": line(20),
    }


def test_a_writer_that_appends_goes_on_at_the_new_start(tmp_path: Path) -> None:
    """What a worker does: its stdout is the log, opened for appending."""
    log = tmp_path / "greeter.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for n in range(5):
            os.write(fd, line(n))
        assert rotate(log, LIMIT)
        os.write(fd, line(5))
    finally:
        os.close(fd)
    assert log.read_bytes() == line(5)  # no hole of NULs where the old content was


def test_a_follower_reads_on_across_a_rotation(tmp_path: Path) -> None:
    log = tmp_path / "greeter.log"
    write(log, 0, 1)
    data, offset = read_from(log, 0)
    assert (data, offset) == (line(0) + line(1), 2 * L)
    write(log, 2, 3, 4)  # not read yet when the log is rotated
    assert rotate(log, LIMIT)
    write(log, 5)
    data, offset = read_from(log, offset)
    assert data == line(2) + line(3) + line(4) + line(5)
    assert offset == L  # counted in the new log
    write(log, 6)
    assert read_from(log, offset) == (line(6), 2 * L)


@pytest.mark.parametrize(
    ("offset", "most", "expected"),
    [
        (0, 30, (line(0) + line(1)[:9], 30)),
        (2 * L, 100, (b"", 2 * L)),  # at the end: nothing new
        (10_000, 100, (line(0) + line(1), 2 * L)),  # past every copy: the new log from its start
    ],
    ids=["at-most", "at-the-end", "past-every-copy"],
)
def test_read_from(tmp_path: Path, offset: int, most: int, expected: tuple[bytes, int]) -> None:
    log = tmp_path / "greeter.log"
    write(log, 0, 1)
    assert read_from(log, offset, most) == expected


def test_a_missing_log_reads_as_empty(tmp_path: Path) -> None:
    assert read_from(tmp_path / "none.log", 7) == (b"", 0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, MAX_BYTES), ("2048", 2048), ("0", MAX_BYTES), ("ten", MAX_BYTES)],
    ids=["default", "set", "zero-ignored", "not-a-number-ignored"],
)
def test_the_limit_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: int
) -> None:
    if value is None:
        monkeypatch.delenv("AGENTFORM_LOG_MAX_BYTES", raising=False)
    else:
        monkeypatch.setenv("AGENTFORM_LOG_MAX_BYTES", value)
    assert limit() == expected


def test_the_engine_rotates_its_log_and_every_agents_log(tmp_path: Path) -> None:
    files = EngineFiles(tmp_path)
    files.logs.mkdir()
    write(files.log, *range(5))
    write(files.logs / "greeter.log", *range(5))
    write(files.logs / "idle.log", 0)

    async def run() -> None:
        stopping = asyncio.Event()
        task = asyncio.create_task(keep_rotating(files, stopping, LIMIT, every=0.01))
        await asyncio.sleep(0.1)
        stopping.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(run())
    assert backup(files.log, 1).exists()
    assert backup(files.logs / "greeter.log", 1).exists()
    assert not backup(files.logs / "idle.log", 1).exists()
    assert (files.logs / "idle.log").read_bytes() == line(0)
