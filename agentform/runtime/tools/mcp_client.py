"""One live connection to one MCP server: launching it, connecting, listing, calling, stopping.

This module owns the ``mcp`` SDK client for the runtime. :class:`ServerParams` turns a spec tool's
plain ``mcp`` values into something runnable (paths resolved against the spec directory, ``python``
replaced by agentform's own interpreter, ``${secret.NAME}`` references resolved);
:class:`Connection` runs the SDK ``Client`` over stdio or streamable HTTP; over stdio the
server's process and pipes are a :class:`~agentform.runtime.tools.call_lane.StdioLane`, whose tool
calls go past the SDK session's per-request machinery (the SDK speaks the rest of the
protocol). Its only caller is :mod:`agentform.runtime.tools.toolbox`, which decides what a
failure means for the model.

A connection's SDK context is entered and exited by one dedicated task: anyio cancel scopes must
be left by the task that entered them, and the worker may start, call and close the toolbox from
different tasks (a restart after a crash happens inside whichever call noticed it).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from agentform.contract.values import McpServer
from agentform.runtime.errors import PermanentError, TemporaryError
from agentform.runtime.tools.call_lane import LaneClosedError, StdioLane

__all__ = ["Connection", "ServerGoneError", "ServerParams", "ToolStartError", "resolve_secrets"]

# A server that has not answered the handshake by then is not going to.
START_TIMEOUT = 30.0
_STDERR_TAIL_LINES = 20
_SECRET_REF = re.compile(r"\$\{secret\.([A-Za-z0-9_.-]+)\}")
_PYTHON_NAMES = frozenset({"python", "python3"})


class ToolStartError(PermanentError):
    """An MCP server could not be started or connected; the message names tool, command, stderr."""


class ServerGoneError(TemporaryError):
    """The connection to the server ended (the process exited, the HTTP endpoint went away)."""


def resolve_secrets(tool: str, where: str, text: str, secret: Callable[[str], str | None]) -> str:
    def replace(match: re.Match[str]) -> str:
        value = secret(match.group(1))
        if value is None:
            raise ToolStartError(
                f"tool {tool!r}: {where} refers to secret {match.group(1)!r}, which is not set; "
                "provide the secret to the runtime and start the agent again"
            )
        return value

    return _SECRET_REF.sub(replace, text)


@dataclass(frozen=True, slots=True)
class ServerParams:
    """A spec tool's MCP server, ready to launch (``command``) or to reach (``url``)."""

    tool: str
    command: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        tool: str,
        server: McpServer,
        *,
        base_dir: Path,
        secret: Callable[[str], str | None],
    ) -> ServerParams:
        """Resolve a spec tool's ``mcp`` server; raise :class:`ToolStartError` if unusable."""
        raw_command = list(server.command or ())
        headers = {
            k: resolve_secrets(tool, f"header {k}", v, secret) for k, v in server.headers.items()
        }
        if server.url:
            return cls(tool, url=server.url, headers=headers)
        if not raw_command:
            raise ToolStartError(f"tool {tool!r} has neither mcp.command nor mcp.url; set one")
        cwd = base_dir / server.cwd if server.cwd else base_dir
        program = str(raw_command[0])
        if program in _PYTHON_NAMES:
            # fresh machines may have no `python` on PATH; agentform's own interpreter has the SDK
            program = sys.executable
        elif "/" in program and not Path(program).is_absolute():
            program = str(base_dir / program)
        args = []
        for arg in map(str, raw_command[1:]):
            candidate = base_dir / arg
            relative_file = not arg.startswith("-") and not Path(arg).is_absolute()
            args.append(str(candidate) if relative_file and candidate.is_file() else arg)
        env = {
            str(k): resolve_secrets(tool, f"env {k}", str(v), secret) for k, v in server.env.items()
        }
        return cls(tool, command=(program, *args), env=env, cwd=cwd, headers=headers)

    def describe(self) -> str:
        """The command line or URL, for error messages (never the env: it may hold secrets)."""
        return self.url or " ".join(self.command)


def _unwrap(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def is_gone(error: BaseException) -> bool:
    """Whether ``error`` means the server or the connection to it is gone."""
    error = _unwrap(error)
    if isinstance(error, MCPError):
        return error.code == types.CONNECTION_CLOSED
    return isinstance(
        error, anyio.ClosedResourceError | anyio.BrokenResourceError | httpx2.TransportError
    )


class _StderrPump:
    """Forwards a server's stderr to the log line by line, keeping a tail for error messages."""

    def __init__(self, tool: str, log: logging.Logger) -> None:
        read_fd, write_fd = os.pipe()
        self.writer = os.fdopen(write_fd, "w", encoding="utf-8")
        self._reader = os.fdopen(read_fd, "rb")
        self._tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
        self._tool, self._log = tool, log
        self._thread = threading.Thread(target=self._pump, name=f"mcp-stderr-{tool}", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        with self._reader:
            for raw in self._reader:
                line = raw.decode("utf-8", "replace").rstrip()
                self._tail.append(line)
                self._log.info("tool %s stderr: %s", self._tool, line)

    def close_writer(self) -> None:
        """Drop our copy of the pipe's write end: only the server holds it now."""
        self.writer.close()

    def tail(self, wait: float = 1.0) -> str:
        """The last lines the server wrote; waits briefly for an exited server's last words."""
        self._thread.join(wait)
        return "\n".join(self._tail)

    def join(self, wait: float) -> None:
        self._thread.join(wait)


class Connection:
    """The SDK client for one server, owned by a background task between ``open`` and ``close``."""

    def __init__(self, params: ServerParams, log: logging.Logger) -> None:
        self.params = params
        self._log = log
        self._client: Client | None = None
        self._lane: StdioLane | None = None  # stdio: tool calls past the SDK session
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stderr: _StderrPump | None = None

    async def open(self) -> list[types.Tool]:
        """Launch or reach the server, negotiate, and list its tools."""
        ready: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        if self.params.command:
            self._stderr = _StderrPump(self.params.tool, self._log)
        self._task = asyncio.create_task(self._own(ready), name=f"mcp-{self.params.tool}")
        try:
            self._client = await asyncio.wait_for(asyncio.shield(ready), START_TIMEOUT)
            return await self._list_tools(self._client)
        except (Exception, asyncio.CancelledError) as error:
            await self.close()
            if isinstance(error, asyncio.CancelledError):
                raise
            raise ToolStartError(self._start_failure(error)) from error
        finally:
            if self._stderr is not None:
                self._stderr.close_writer()

    async def _list_tools(self, client: Client) -> list[types.Tool]:
        tools: list[types.Tool] = []
        cursor: str | None = None
        while True:
            page = await client.list_tools(cursor=cursor)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if cursor is None:
                return tools

    async def _own(self, ready: asyncio.Future[Client]) -> None:
        try:
            async with contextlib.AsyncExitStack() as stack:
                lane: StdioLane | None = None
                if self.params.url:
                    http = await stack.enter_async_context(
                        httpx2.AsyncClient(
                            headers=dict(self.params.headers),
                            timeout=httpx2.Timeout(30.0, read=300.0),
                        )
                    )
                    transport = streamable_http_client(self.params.url, http_client=http)
                else:
                    assert self._stderr is not None
                    lane = StdioLane(
                        self.params.command,
                        env=self.params.env,
                        cwd=self.params.cwd,
                        errlog=self._stderr.writer,
                    )
                    transport = lane.transport()
                client = await stack.enter_async_context(Client(transport))
                if lane is not None and lane.bind(client.session):
                    self._lane = lane
                ready.set_result(client)
                await self._stop.wait()
        except BaseException as error:
            if not ready.done():
                ready.set_exception(_unwrap(error))
            elif not isinstance(error, asyncio.CancelledError):
                self._log.debug(
                    "tool %s: closing the MCP client failed: %r", self.params.tool, error
                )
            if isinstance(error, asyncio.CancelledError):
                raise

    def _start_failure(self, error: BaseException) -> str:
        error = _unwrap(error)
        if isinstance(error, asyncio.TimeoutError | TimeoutError):
            what = f"did not answer the MCP handshake within {START_TIMEOUT:.0f}s"
        elif isinstance(error, FileNotFoundError | PermissionError):
            what = f"could not be run ({error.strerror}: {error.filename})"
        elif is_gone(error) and self.params.url:
            what = "could not be reached or closed the connection during the MCP handshake"
        elif is_gone(error):
            what = "exited or closed the connection before the MCP handshake finished"
        else:
            what = f"failed to start: {error}"
        kind = "MCP server at" if self.params.url else "MCP server command"
        message = f"tool {self.params.tool!r}: {kind} `{self.params.describe()}` {what}"
        tail = self._stderr.tail() if self._stderr is not None else ""
        if tail:
            message += f"; its stderr ends with:\n{tail}"
        if self.params.url:
            return message + "\ncheck that the server is up and the url is right, then retry"
        return message + "\nfix the tool's mcp settings in the spec; retrying alone will not help"

    @property
    def lane_calls(self) -> bool:
        """Whether tool calls go on the stdio lane, past the SDK session (see ``call_lane``)."""
        return self._lane is not None

    async def call(
        self, name: str, arguments: Mapping[str, Any], meta: types.RequestParamsMeta
    ) -> types.CallToolResult:
        """Call one tool; raise :class:`ServerGoneError` when the server or connection is gone."""
        if self._client is None:
            raise ServerGoneError(f"tool {self.params.tool!r} is not connected")
        lane = self._lane
        if lane is not None:
            try:
                return await lane.call(name, arguments, meta)
            except LaneClosedError as error:
                raise ServerGoneError(str(error)) from error
        try:
            return await self._client.call_tool(name, dict(arguments), meta=meta)
        except BaseException as error:
            if is_gone(error):
                raise ServerGoneError(str(_unwrap(error))) from error
            raise

    async def ping(self, timeout: float) -> bool:
        """Whether the server answers a request within ``timeout`` seconds (it is not stuck).
        The request is a tool listing: MCP's ``ping`` is gone from protocol 2026-07-28."""
        if self._client is None:
            return False
        try:
            async with asyncio.timeout(timeout):
                await self._client.list_tools()
        except MCPError as error:
            return error.code != types.CONNECTION_CLOSED  # an error answer is an answer
        except Exception:
            return False
        return True

    async def close(self) -> None:
        """Stop the server process (stdio) or end the HTTP session; safe to call twice."""
        task, self._task, self._client, self._lane = self._task, None, None, None
        self._stop.set()
        if task is not None:
            try:
                # the SDK's shutdown is bounded (stdin close, SIGTERM, SIGKILL: a few seconds)
                await asyncio.wait_for(asyncio.shield(task), 15)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._stderr is not None:
            self._stderr.close_writer()
            self._stderr.join(1.0)
