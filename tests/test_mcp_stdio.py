"""Tests for agentform.mcp_stdio: an ``mcp`` SDK server served on the event loop over stdio,
driven by agentform's own client (the toolbox) against the real toy server
(``tests/runtime/mcp_servers/toys.py`` with ``TOYS_STDIO=loop``)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from agentform.runtime.tools.toolbox import Toolbox
from tests.runtime.project import pid_alive as alive

TOYS = Path(__file__).resolve().parent / "runtime" / "mcp_servers" / "toys.py"


def toys(tmp_path: Path, stdio: str = "loop") -> dict[str, Any]:
    return {
        "toys": {
            "mcp": {
                "command": ["python", str(TOYS)],
                "env": {"TOYS_STDIO": stdio, "TOYS_PID_FILE": str(tmp_path / "toys.pid")},
            },
            "timeout": "5s",
        }
    }


def test_tools_list_and_answer_many_calls_at_once(tmp_path: Path) -> None:
    async def main() -> tuple[list[str], list[str], str, str]:
        async with Toolbox(toys(tmp_path), base_dir=tmp_path, secret=lambda _n: None) as box:
            names = sorted(spec.name for spec in box.specs())
            calls = [box.call("echo", {"text": f"t{i}"}, idempotency_key="k") for i in range(300)]
            texts = [result.content for result in await asyncio.gather(*calls)]
            added = await box.call("add", {"a": 2, "b": 40}, idempotency_key="k")
            failed = await box.call("fail", {"reason": "x"}, idempotency_key="k")
            return names, texts, added.content, failed.content

    names, texts, added, failed = asyncio.run(main())
    assert {"echo", "add", "fail", "junk"} <= set(names)
    assert texts == [f"toys:t{i}" for i in range(300)]
    assert added == '{"sum": 42}' or '"sum": 42' in added
    assert "failed on purpose: x" in failed


def test_a_big_message_goes_through_whole(tmp_path: Path) -> None:
    text = "x" * 3_000_000

    async def main() -> str:
        async with Toolbox(toys(tmp_path), base_dir=tmp_path, secret=lambda _n: None) as box:
            return (await box.call("echo", {"text": text}, idempotency_key="k")).content

    assert asyncio.run(main()) == f"toys:{text}"


def test_a_tool_that_prints_cannot_corrupt_the_wire(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What a tool prints goes to stderr (the toolbox logs a server's stderr), not the wire."""
    caplog.set_level(logging.INFO, logger="agentform.runtime.tools.toolbox")

    async def main() -> list[str]:
        async with Toolbox(toys(tmp_path), base_dir=tmp_path, secret=lambda _n: None) as box:
            line = '{"jsonrpc": "2.0", "id": 1}'
            junk = await box.call("junk", {"line": line}, idempotency_key="k")
            echo = await box.call("echo", {"text": "after"}, idempotency_key="k")
            return [junk.content, echo.content]

    assert asyncio.run(main()) == ["wrote junk", "toys:after"]
    assert 'stderr: {"jsonrpc": "2.0", "id": 1}' in caplog.text


@pytest.mark.parametrize("stdio", ["loop", "sdk"])
def test_the_server_ends_when_its_stdin_closes(tmp_path: Path, stdio: str) -> None:
    """Closing the connection closes stdin: the server exits by itself within the SDK's grace
    period (2 s), without being signalled, and the last answers were all sent."""

    async def main() -> tuple[int, float]:
        box = Toolbox(toys(tmp_path, stdio), base_dir=tmp_path, secret=lambda _n: None)
        await box.start()
        pid = int((tmp_path / "toys.pid").read_text())
        results = await asyncio.gather(
            *(box.call("echo", {"text": str(i)}, idempotency_key="k") for i in range(50))
        )
        assert [r.content for r in results] == [f"toys:{i}" for i in range(50)]
        started = time.monotonic()
        await box.aclose()
        return pid, time.monotonic() - started

    pid, took = asyncio.run(main())
    assert not alive(pid)
    assert took < 1.9  # exited on its own: no SIGTERM after the 2 s grace


def test_a_server_it_cannot_serve_is_refused_with_what_to_do() -> None:
    from mcp.server.mcpserver import MCPServer

    from agentform.mcp_stdio import serve

    server = MCPServer("odd")
    server._lowlevel_server = None  # type: ignore[assignment]  # as a changed SDK might have it
    with pytest.raises(TypeError, match="serve it with its own run"):
        asyncio.run(serve(server))
