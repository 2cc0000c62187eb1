"""An engine that was killed leaves its nats-server running; the next engine stops it before
starting its own. The check that the process is that server reads its whole command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentform.runtime.bus.server import NatsServer, stop_orphan


def test_an_orphan_with_a_long_command_line_is_found_and_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = tmp_path / ("a-long-directory-name-" * 6) / "engine" / "nats"
    config = deep.parent / "nats.conf"
    config.parent.mkdir(parents=True)
    config.write_text("")
    server = NatsServer(deep, config=config)
    server.start()
    assert server.process is not None
    pid = server.process.pid
    # a narrow terminal: ps cuts command lines at COLUMNS unless told not to
    monkeypatch.setenv("COLUMNS", "60")
    try:
        # (our own child lingers as a zombie until reaped: a short timeout is enough)
        assert stop_orphan(pid, deep, timeout=2) is True
        server.process.wait(timeout=10)
        assert server.process.poll() is not None
        assert stop_orphan(pid, tmp_path / "elsewhere") is False  # not ours: untouched
    finally:
        server.stop()
