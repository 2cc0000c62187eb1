"""Tests for agentform.runtime.tools.call_lane: tool calls on a stdio MCP server past the SDK
session, against the real toy server (``tests/runtime/mcp_servers/toys.py``, the ``mcp`` SDK).

The lane owns the server's pipes: its calls' answers are picked out by id, everything else
(the handshake, listings, the server's own messages) still reaches the SDK session.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agentform.runtime.tools import call_lane
from agentform.runtime.tools.mcp_client import Connection, ServerGoneError, ServerParams
from agentform.runtime.tools.toolbox import Toolbox
from tests.runtime.project import pid_alive as alive

HERE = Path(__file__).resolve().parents[1]
TOYS = HERE / "mcp_servers" / "toys.py"
LOG = __import__("logging").getLogger("test_call_lane")


def params(tmp_path: Path, **env: str) -> ServerParams:
    return ServerParams(
        "toys",
        command=(sys.executable, str(TOYS)),
        env={"TOYS_PID_FILE": str(tmp_path / "toys.pid"), **env},
        cwd=tmp_path,
    )


def meta() -> Any:
    return {"agentform/idempotency_key": "k"}


def test_many_calls_in_flight_get_their_own_answers_while_the_session_lists(
    tmp_path: Path,
) -> None:
    async def main() -> tuple[bool, list[str], int]:
        connection = Connection(params(tmp_path), LOG)
        await connection.open()
        try:

            async def listing() -> int:
                assert connection._client is not None
                return len((await connection._client.list_tools()).tools)

            # with this SDK, the stamp of a stdio session is learnt once, not run per call
            assert connection._lane is not None and connection._lane._stamped_meta is not None
            calls = [connection.call("echo", {"text": f"n{i}"}, meta()) for i in range(300)]
            *results, listed = await asyncio.gather(*calls, listing())
            texts = [r.content[0].text for r in results]  # type: ignore[union-attr]
            return connection.lane_calls, texts, listed
        finally:
            await connection.close()

    on_lane, texts, listed = asyncio.run(main())
    assert on_lane  # the calls went on the lane, not through the SDK session
    assert texts == [f"toys:n{i}" for i in range(300)]
    assert listed >= 10  # the session's own request was answered on the same pipes


def test_a_call_given_up_on_is_cancelled_on_the_server(tmp_path: Path) -> None:
    mark = tmp_path / "mark"

    async def main() -> str:
        connection = Connection(params(tmp_path), LOG)
        await connection.open()
        try:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    await connection.call("mark_after", {"seconds": 1.0, "path": str(mark)}, meta())
            await asyncio.sleep(1.5)  # the tool would have written the file by now
            after = await connection.call("echo", {"text": "still here"}, meta())
            return after.content[0].text  # type: ignore[union-attr]
        finally:
            await connection.close()

    assert asyncio.run(main()) == "toys:still here"
    assert not mark.exists()


def test_a_line_that_is_not_json_rpc_does_not_break_the_connection(tmp_path: Path) -> None:
    async def main() -> list[str]:
        box = Toolbox(
            {"toys": {"mcp": {"command": ["python", str(TOYS)]}}},
            base_dir=tmp_path,
            secret=lambda _name: None,
        )
        async with box:
            first = await box.call("junk", {}, idempotency_key="k")
            second = await box.call("junk", {"line": '{"jsonrpc": "2.0"}'}, idempotency_key="k")
            third = await box.call("echo", {"text": "ok"}, idempotency_key="k")
            return [first.content, second.content, third.content]

    assert asyncio.run(main()) == ["wrote junk", "wrote junk", "toys:ok"]


def test_a_server_that_dies_ends_the_calls_in_flight(tmp_path: Path) -> None:
    async def main() -> float:
        connection = Connection(params(tmp_path), LOG)
        await connection.open()
        try:
            slow = asyncio.ensure_future(connection.call("slow", {"seconds": 30}, meta()))
            await asyncio.sleep(0.2)
            os.kill(int((tmp_path / "toys.pid").read_text()), 9)
            started = time.monotonic()
            with pytest.raises(ServerGoneError) as caught:
                await slow
            assert "closed the connection" in str(caught.value)
            return time.monotonic() - started
        finally:
            await connection.close()

    assert asyncio.run(main()) < 5.0  # not the call's 30 s


def test_closing_stops_the_server_and_what_it_started(tmp_path: Path) -> None:
    child_file = tmp_path / "child.pid"

    async def main() -> tuple[int, int]:
        connection = Connection(params(tmp_path), LOG)
        await connection.open()
        await connection.call("spawn", {"pid_file": str(child_file)}, meta())
        server, child = int((tmp_path / "toys.pid").read_text()), int(child_file.read_text())
        assert alive(server) and alive(child)
        await connection.close()
        return server, child

    server, child = asyncio.run(main())
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(server)
    assert not alive(child)


def test_without_a_stamp_to_borrow_the_calls_go_through_the_sdk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(call_lane.StdioLane, "bind", lambda self, session: False)

    async def main() -> tuple[bool, str]:
        connection = Connection(params(tmp_path), LOG)
        await connection.open()
        try:
            result = await connection.call("echo", {"text": "sdk"}, meta())
            return connection.lane_calls, result.content[0].text  # type: ignore[union-attr]
        finally:
            await connection.close()

    assert asyncio.run(main()) == (False, "toys:sdk")


@pytest.mark.parametrize("constant_stamp", [True, False])
def test_calls_carry_what_the_session_stamps_and_the_callers_meta(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, constant_stamp: bool
) -> None:
    """The server sees the negotiated protocol's ``_meta`` on a lane call, whether the lane
    merges the stamp it learnt once or stamps every call."""
    if not constant_stamp:
        monkeypatch.setattr(call_lane.StdioLane, "_trial", staticmethod(lambda stamp, name: None))

    async def main() -> dict[str, Any]:
        connection = Connection(params(tmp_path), LOG)
        await connection.open()
        try:
            result = await connection.call("meta", {}, meta())
            return json.loads(result.content[0].text)["meta"]  # type: ignore[union-attr,no-any-return]
        finally:
            await connection.close()

    seen = asyncio.run(main())
    assert seen["agentform/idempotency_key"] == "k"
    assert seen["io.modelcontextprotocol/protocolVersion"]
    assert seen["io.modelcontextprotocol/clientInfo"]["name"]
