"""Tests for agentform.runtime.tools.toolbox against real MCP servers (stdio and streamable HTTP).

The toy server lives in ``tests/runtime/mcp_servers/toys.py``. The reference server
``@modelcontextprotocol/server-everything`` is used when installed ahead of time (never
downloaded here): under ``tests/runtime/node_modules/.bin/`` or at ``$AGENTFORM_MCP_EVERYTHING``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from agentform.runtime.conversation import ToolSpec
from agentform.runtime.tools import toolbox as toolbox_module
from agentform.runtime.tools.toolbox import (
    IDEMPOTENCY_META_KEY,
    Toolbox,
    ToolResult,
    ToolStartError,
)
from tests.runtime.project import pid_alive as alive

HERE = Path(__file__).resolve().parents[1]  # tests/runtime: the servers and node_modules
TOYS = "mcp_servers/toys.py"
NO_SECRETS: Callable[[str], str | None] = lambda _name: None  # noqa: E731


def toy(
    tmp_path: Path,
    *,
    side_effects: str = "none",
    timeout: str | None = None,
    expose: list[str] | None = None,
    env: Mapping[str, str] | None = None,
    name: str = "toys",
) -> dict[str, Any]:
    """Plain values of one spec tool backed by the toy server over stdio."""
    return {
        "description": "toy tools",
        "mcp": {
            "command": ["python", TOYS],
            "env": {
                "TOYS_NAME": name,
                "TOYS_PID_FILE": str(tmp_path / f"{name}.pid"),
                "TOYS_COUNTER_FILE": str(tmp_path / f"{name}.count"),
                **(env or {}),
            },
            "cwd": None,
            "url": None,
            "headers": {},
        },
        "side_effects": side_effects,
        "timeout": timeout,
        "expose": expose,
    }


def run(
    tools: Mapping[str, Mapping[str, Any]],
    body: Callable[[Toolbox], Awaitable[Any]],
    *,
    secret: Callable[[str], str | None] = NO_SECRETS,
) -> Any:
    async def main() -> Any:
        async with Toolbox(tools, base_dir=HERE, secret=secret) as box:
            return await body(box)

    return asyncio.run(main())


async def call(box: Toolbox, name: str, key: str = "k1", **arguments: Any) -> ToolResult:
    return await box.call(name, arguments, idempotency_key=key)


def counted(tmp_path: Path, name: str = "toys") -> int:
    path = tmp_path / f"{name}.count"
    return len(path.read_text().splitlines()) if path.exists() else 0


# -- listing ------------------------------------------------------------------------------------


def test_specs_list_every_tool_with_its_input_schema(tmp_path: Path) -> None:
    async def body(box: Toolbox) -> list[ToolSpec]:
        return box.specs()

    specs = {s.name: s for s in run({"toys": toy(tmp_path)}, body)}
    assert {"echo", "add", "fail", "slow", "counter", "crash", "secret", "meta"} <= set(specs)
    add = specs["add"]
    assert add.description == "Add two integers."
    assert add.parameters["type"] == "object"
    assert add.parameters["properties"]["a"]["type"] == "integer"
    assert sorted(add.parameters["required"]) == ["a", "b"]


def test_owner_and_side_effects(tmp_path: Path) -> None:
    async def body(box: Toolbox) -> tuple[Any, ...]:
        return box.owner("echo"), box.side_effects("echo"), box.owner("nope"), box.side_effects("x")

    assert run({"kb": toy(tmp_path, side_effects="idempotent")}, body) == (
        "kb",
        "idempotent",
        None,
        "unsafe",
    )


def test_expose_offers_only_the_listed_tools(tmp_path: Path) -> None:
    async def body(box: Toolbox) -> tuple[list[str], ToolResult]:
        return [s.name for s in box.specs()], await call(box, "add", a=1, b=2)

    names, hidden = run({"toys": toy(tmp_path, expose=["echo", "counter"])}, body)
    assert names == ["echo", "counter"]
    assert hidden.is_error
    assert "there is no tool 'add'" in hidden.content
    assert "counter, echo" in hidden.content


def test_exposing_a_tool_the_server_lacks_fails_to_start(tmp_path: Path) -> None:
    async def body(box: Toolbox) -> None:
        raise AssertionError("started")

    with pytest.raises(ToolStartError, match=r"exposes 'nosuch'.*fix the expose list"):
        run({"toys": toy(tmp_path, expose=["echo", "nosuch"])}, body)
    assert not alive(int((tmp_path / "toys.pid").read_text()))


def test_name_collisions_are_prefixed_with_the_spec_tool(tmp_path: Path) -> None:
    tools = {
        "one": toy(tmp_path, name="one", expose=["echo", "add"]),
        "two": toy(tmp_path, name="two", expose=["echo", "slow"]),
    }

    async def body(box: Toolbox) -> tuple[list[str], ToolResult, ToolResult]:
        one = await call(box, "one__echo", text="a")
        two = await call(box, "two__echo", text="b")
        return sorted(s.name for s in box.specs()), one, two

    names, one, two = run(tools, body)
    assert names == ["add", "one__echo", "slow", "two__echo"]
    assert (one.content, one.tool) == ("one:a", "one")
    assert (two.content, two.tool) == ("two:b", "two")


# -- calls --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments", "is_error", "content"),
    [
        ("echo", {"text": "hi"}, False, "toys:hi"),
        ("add", {"a": 2, "b": 3}, False, '{\n  "sum": 5\n}'),
        ("fail", {"reason": "no"}, True, "Error executing tool fail: failed on purpose: no"),
        ("add", {"a": 1, "b": "two"}, True, "validation error"),
        ("add", {"a": 1}, True, "Field required"),
        ("nosuch", {}, True, "there is no tool 'nosuch'; available tools: add, counter, crash"),
    ],
    ids=["text", "structured", "tool-error", "bad-type", "missing-arg", "unknown-tool"],
)
def test_calls_and_errors_as_results(
    tmp_path: Path, tool: str, arguments: dict[str, Any], is_error: bool, content: str
) -> None:
    async def body(box: Toolbox) -> ToolResult:
        return await box.call(tool, arguments, idempotency_key="k")

    result = run({"toys": toy(tmp_path)}, body)
    assert result.is_error is is_error
    assert content in result.content
    assert result.tool == ("" if tool == "nosuch" else "toys")


def test_timeout_is_an_error_result_and_the_server_stays_usable(tmp_path: Path) -> None:
    async def body(box: Toolbox) -> tuple[ToolResult, ToolResult, float, list[int]]:
        pids = [int((tmp_path / "toys.pid").read_text())]
        started = time.monotonic()
        slow = await call(box, "slow", seconds=10)
        elapsed = time.monotonic() - started
        echo = await call(box, "echo", text="still here")
        return slow, echo, elapsed, [*pids, int((tmp_path / "toys.pid").read_text())]

    slow, echo, elapsed, pids = run({"toys": toy(tmp_path, timeout="500ms")}, body)
    assert slow.is_error and not slow.unknown  # side_effects none: nothing to settle
    assert slow.content == "slow timed out after 500ms; it may still have run"
    assert elapsed < 5
    assert echo == ToolResult("toys:still here", False, "toys")
    # the server answered the request that followed the timeout: a slow tool, not a stuck
    # server, so it was not restarted
    assert pids[0] == pids[1]


@pytest.mark.parametrize("side_effects", ["none", "unsafe"])
def test_a_stuck_server_is_restarted_after_a_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, side_effects: str
) -> None:
    monkeypatch.setattr(toolbox_module, "PING_TIMEOUT_S", 0.5)

    async def body(box: Toolbox) -> tuple[int, ToolResult, int, ToolResult, float]:
        stuck_pid = int((tmp_path / "toys.pid").read_text())
        started = time.monotonic()
        stuck = await call(box, "hang")  # blocks the server's event loop: no pong either
        elapsed = time.monotonic() - started
        new_pid = int((tmp_path / "toys.pid").read_text())
        return stuck_pid, stuck, new_pid, await call(box, "echo", text="back"), elapsed

    tools = {"toys": toy(tmp_path, timeout="500ms", side_effects=side_effects)}
    stuck_pid, stuck, new_pid, echo, elapsed = run(tools, body)
    assert stuck.is_error
    assert stuck.content == (
        "hang timed out after 500ms; it may still have run (its server had stopped answering"
        " and was restarted)"
    )
    assert stuck.unknown is (side_effects == "unsafe")  # the loop settles it as after a crash
    assert elapsed < 10  # the tool's timeout, the ping's, the restart
    assert new_pid != stuck_pid and not alive(stuck_pid)
    assert echo == ToolResult("toys:back", False, "toys")


def test_concurrent_calls_share_one_session(tmp_path: Path) -> None:
    """A worker's tasks call at once over the server's one session: one process, every answer
    back to its caller, the calls in flight together (a slow one does not hold up the rest)."""

    async def body(box: Toolbox) -> tuple[list[ToolResult], float]:
        started = time.monotonic()
        slow = asyncio.ensure_future(call(box, "slow", seconds=1.0))
        answers = await asyncio.gather(*(call(box, "echo", text=str(i)) for i in range(200)))
        fast = time.monotonic() - started
        await slow
        return answers, fast

    answers, fast = run({"toys": toy(tmp_path)}, body)
    assert [a.content for a in answers] == [f"toys:{i}" for i in range(200)]
    assert fast < 1.0  # answered while the slow call was still in flight
    server = int((tmp_path / "toys.pid").read_text())
    assert not alive(server)  # one server, stopped with the toolbox


def test_idempotency_key_reaches_the_server_in_meta(tmp_path: Path) -> None:
    async def body(box: Toolbox) -> ToolResult:
        return await call(box, "meta", key="task-7/step-3")

    result = run({"toys": toy(tmp_path)}, body)
    assert json.loads(result.content)["meta"][IDEMPOTENCY_META_KEY] == "task-7/step-3"


# -- secrets and paths --------------------------------------------------------------------------


def test_secret_references_in_env_are_resolved(tmp_path: Path) -> None:
    secrets = {"API_TOKEN": "s3cr3t"}
    tools = {"toys": toy(tmp_path, env={"TOYS_SECRET": "Bearer ${secret.API_TOKEN}"})}

    async def body(box: Toolbox) -> ToolResult:
        return await call(box, "secret")

    assert run(tools, body, secret=secrets.get).content == "Bearer s3cr3t"


def test_a_missing_secret_names_the_secret(tmp_path: Path) -> None:
    async def body(box: Toolbox) -> None:
        raise AssertionError("started")

    tools = {"toys": toy(tmp_path, env={"TOYS_SECRET": "${secret.NOPE}"})}
    with pytest.raises(ToolStartError, match=r"tool 'toys': env TOYS_SECRET .* secret 'NOPE'"):
        run(tools, body)


def test_cwd_resolves_against_base_dir(tmp_path: Path) -> None:
    values = toy(tmp_path)
    values["mcp"] = {**values["mcp"], "command": ["python3", "toys.py"], "cwd": "mcp_servers"}

    async def body(box: Toolbox) -> ToolResult:
        return await call(box, "echo", text="x")

    assert run({"toys": values}, body).content == "toys:x"


# -- start failures -----------------------------------------------------------------------------


def write_script(tmp_path: Path, text: str) -> str:
    script = tmp_path / "bad_server.py"
    script.write_text(text)
    return str(script)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (
            ["/nonexistent/mcp-server", "--stdio"],
            r"tool 'bad': MCP server command `/nonexistent/mcp-server --stdio` could not be run",
        ),
        (
            ["python", "SCRIPT"],
            r"(?s)exited or closed the connection before the MCP handshake.*"
            r"stderr ends with:\nconfig file missing",
        ),
    ],
    ids=["bad-command", "exits-at-once"],
)
def test_a_server_that_fails_to_start(tmp_path: Path, command: list[str], message: str) -> None:
    script = write_script(
        tmp_path, "import sys\nprint('config file missing', file=sys.stderr)\nsys.exit(2)\n"
    )
    values = toy(tmp_path)
    values["mcp"] = {**values["mcp"], "command": [script if c == "SCRIPT" else c for c in command]}
    tools = {"good": toy(tmp_path, name="good"), "bad": values}

    async def body(box: Toolbox) -> None:
        raise AssertionError("started")

    with pytest.raises(ToolStartError, match=message):
        run(tools, body)
    # the server that did start was stopped again
    assert not alive(int((tmp_path / "good.pid").read_text()))


# -- crashes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side_effects", "is_error", "content"),
    [
        ("none", False, "survived"),
        ("idempotent", False, "survived"),
        ("unsafe", True, "the tool server exited during crash; the outcome is unknown"),
    ],
    ids=["none", "idempotent", "unsafe"],
)
def test_restart_after_a_crash(
    tmp_path: Path, side_effects: str, is_error: bool, content: str
) -> None:
    once = str(tmp_path / "crashed-once")

    async def body(box: Toolbox) -> tuple[int, ToolResult, int, ToolResult]:
        first_pid = int((tmp_path / "toys.pid").read_text())
        crashed = await call(box, "crash", once_file=once)
        second_pid = int((tmp_path / "toys.pid").read_text())
        return first_pid, crashed, second_pid, await call(box, "echo", text="back")

    first_pid, crashed, second_pid, echo = run(
        {"toys": toy(tmp_path, side_effects=side_effects)}, body
    )
    assert crashed.is_error is is_error
    assert content in crashed.content
    assert crashed.unknown is (side_effects == "unsafe")
    assert second_pid != first_pid
    assert not alive(first_pid)
    assert not alive(second_pid)
    assert echo == ToolResult("toys:back", False, "toys")


def test_each_call_runs_the_tool_exactly_once(
    tmp_path: Path,
) -> None:
    async def body(box: Toolbox) -> list[ToolResult]:
        return [await call(box, "counter", key="same"), await call(box, "counter", key="same")]

    results = run({"toys": toy(tmp_path, side_effects="unsafe")}, body)
    assert [r.content for r in results] == ["1", "2"]
    assert counted(tmp_path) == 2


def test_a_crash_every_time_is_reported_not_retried_forever(tmp_path: Path) -> None:
    async def body(box: Toolbox) -> tuple[ToolResult, ToolResult]:
        return await call(box, "crash"), await call(box, "echo", text="ok")

    crashed, echo = run({"toys": toy(tmp_path, side_effects="idempotent")}, body)
    assert crashed.is_error
    assert "exited twice" in crashed.content
    assert echo.content == "toys:ok"


# -- no orphans ---------------------------------------------------------------------------------


def test_aclose_leaves_no_server_process(tmp_path: Path) -> None:
    tools = {"a": toy(tmp_path, name="a"), "b": toy(tmp_path, name="b")}

    async def main() -> list[int]:
        box = Toolbox(tools, base_dir=HERE, secret=NO_SECRETS)
        await box.start()
        pids = [int((tmp_path / f"{n}.pid").read_text()) for n in ("a", "b")]
        assert all(alive(pid) for pid in pids)
        await box.aclose()
        await box.aclose()  # twice is harmless
        return pids

    assert not any(alive(pid) for pid in asyncio.run(main()))


def test_aclose_from_another_task_than_start(tmp_path: Path) -> None:
    async def main() -> int:
        box = Toolbox({"toys": toy(tmp_path)}, base_dir=HERE, secret=NO_SECRETS)
        await asyncio.create_task(box.start())
        result = await asyncio.create_task(call(box, "echo", text="x"))
        assert result.content == "toys:x"
        await asyncio.create_task(box.aclose())
        return int((tmp_path / "toys.pid").read_text())

    assert not alive(asyncio.run(main()))


# -- streamable HTTP ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "TOYS_NAME": "web", "TOYS_COUNTER_FILE": str(tmp_path / "web.count")}
    with (tmp_path / "http.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, str(HERE / TOYS), "--http", str(port)], env=env, stderr=log
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert process.poll() is None, (tmp_path / "http.log").read_text()
                assert time.monotonic() < deadline, "the HTTP test server did not come up"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)


def test_streamable_http_lists_calls_and_sends_headers(tmp_path: Path, http_server: str) -> None:
    tools = {
        "web": {
            "mcp": {"url": http_server, "headers": {"Authorization": "Bearer ${secret.TOKEN}"}},
            "side_effects": "idempotent",
            "timeout": "500ms",
        }
    }

    async def body(box: Toolbox) -> tuple[list[str], list[ToolResult]]:
        results = [
            await call(box, "echo", text="over http"),
            await call(box, "fail"),
            await call(box, "meta", key="http-key"),
            await call(box, "slow", seconds=5),
        ]
        return [s.name for s in box.specs()], results

    names, (echo, fail, meta, slow) = run(tools, body, secret={"TOKEN": "t0k"}.get)
    assert "add" in names
    assert echo == ToolResult("web:over http", False, "web")
    assert fail.is_error
    assert json.loads(meta.content) == {
        "meta": json.loads(meta.content)["meta"] | {IDEMPOTENCY_META_KEY: "http-key"},
        "authorization": "Bearer t0k",
    }
    assert slow.is_error
    assert "timed out after 500ms" in slow.content


def test_an_http_server_that_dies_is_an_error_result(tmp_path: Path, http_server: str) -> None:
    tools = {"web": {"mcp": {"url": http_server}, "side_effects": "idempotent"}}

    async def body(box: Toolbox) -> tuple[ToolResult, ToolResult]:
        return await call(box, "crash"), await call(box, "echo", text="anyone?")

    crashed, echo = run(tools, body)
    assert crashed.is_error
    assert "the tool server exited during crash and could not be restarted" in crashed.content
    assert echo.is_error
    assert "could not be reached" in echo.content


def test_an_unreachable_http_server_fails_to_start() -> None:
    tools = {"web": {"mcp": {"url": f"http://127.0.0.1:{free_port()}/mcp"}}}

    async def body(box: Toolbox) -> None:
        raise AssertionError("started")

    with pytest.raises(
        ToolStartError,
        match=r"tool 'web': MCP server at `http://127.0.0.1:\d+/mcp` could not be reached",
    ):
        run(tools, body)


# -- the reference server -----------------------------------------------------------------------


def everything_server() -> str | None:
    configured = os.environ.get("AGENTFORM_MCP_EVERYTHING")
    if configured:
        return configured
    local = HERE / "node_modules" / ".bin" / "mcp-server-everything"
    return str(local) if local.exists() else None


@pytest.mark.skipif(
    everything_server() is None or shutil.which("node") is None,
    reason="@modelcontextprotocol/server-everything is not installed: run "
    "`npm install --no-save --no-package-lock --prefix tests/runtime "
    "@modelcontextprotocol/server-everything@2026.8.31` "
    "or set AGENTFORM_MCP_EVERYTHING to its mcp-server-everything binary (needs node)",
)
def test_reference_server_everything() -> None:
    command = everything_server()
    assert command is not None
    tools = {"everything": {"mcp": {"command": [command, "stdio"]}, "side_effects": "none"}}

    async def body(box: Toolbox) -> tuple[dict[str, ToolSpec], ToolResult]:
        return {s.name: s for s in box.specs()}, await call(box, "echo", message="hello")

    specs, echo = run(tools, body)
    assert "echo" in specs
    assert "message" in specs["echo"].parameters["properties"]
    assert not echo.is_error
    assert "hello" in echo.content
