"""An MCP server over stdio, whose tool calls go past the SDK session's per-request machinery.

The ``mcp`` SDK's stdio client spends about 250 µs of CPU on every ``tools/call``, several times
what the call itself needs: a memory stream, a cancel scope and an OpenTelemetry span per
request, a request clock, typed-result adapters, the tool's output schema checked again on every
answer, and two task hops each way between the pipes and the session. A worker makes thousands of
calls a second on one connection, so that machinery was the largest part of what a tool call added
to a task (issue 19; ``benchmarks/README.md``).

This module owns :class:`StdioLane`: the server process and its pipes, as the transport the SDK
``Client`` runs on, plus a lane for ``tools/call``. The SDK still speaks the protocol: the
handshake and protocol-era negotiation, tool listing, the requests of a health check, and any
request or notification the server sends all go through its session unchanged. The lane only
sends ``tools/call`` requests itself, stamped by the session's own stamp (so they carry exactly
what the negotiated protocol requires), with ids of the form ``agentform-N``. The session's ids
are integers, so the lane picks the answers to its ids out of the server's output as it arrives,
in the pipe's callback, and hands every other message to the session.

The process is started as the SDK starts it (its own process group, the SDK's inherited
environment plus the tool's ``env``) and stopped as the MCP spec says: stdin closed, then SIGTERM
to the group, then SIGKILL; then whatever it started that is still in its group is killed too.

What the lane does not do that the session did: check a call's structured content against the
tool's output schema again (agentform hands the model the content as text, see
:func:`agentform.runtime.tools.toolbox._text_of`; the server checked it when it made it), or
start an OpenTelemetry span of the SDK's (the worker records the call itself). Its caller is
:class:`agentform.runtime.tools.mcp_client.Connection`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import anyio
import mcp_types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.client._transport import TransportStreams
from mcp.client.session import ClientSession
from mcp.client.stdio import get_default_environment
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

__all__ = ["LaneClosedError", "StdioLane"]

_ID_PREFIX = "agentform-"
# the MCP spec's shutdown: how long the server has after its stdin closes, then after SIGTERM
_EXIT_GRACE_S = 2.0
_TERM_GRACE_S = 2.0
_Stamp = Callable[[dict[str, Any], Any], None]
_Answer = asyncio.Future[dict[str, Any]]
_log = logging.getLogger(__name__)


class LaneClosedError(Exception):
    """The connection ended (the server exited or closed its stdout) before the answer came."""


class _Pipes(asyncio.SubprocessProtocol):
    """The event loop's side of the process: complete lines of stdout, and the exit."""

    def __init__(self, lane: StdioLane) -> None:
        self._lane = lane
        self._buffer = bytearray()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd != 1:
            return
        buffer = self._buffer
        buffer += data
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            line = bytes(buffer[start:end])
            start = end + 1
            self._lane._received(line)
        del buffer[:start]

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self._lane._ended()

    def process_exited(self) -> None:
        self._lane._exited.set()
        # its last answers may still be in the pipe: stdout's end ends the calls; this is for
        # a server whose child keeps stdout open after it exited
        asyncio.get_running_loop().call_later(1.0, self._lane._ended)


class StdioLane:
    """One MCP server process: the SDK ``Client``'s transport, and a lane for tool calls."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path | None,
        errlog: IO[str],
    ) -> None:
        self._command = list(command)
        self._env = get_default_environment() | dict(env)
        self._cwd = cwd
        self._errlog = errlog
        self._process: asyncio.SubprocessTransport | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._exited = asyncio.Event()
        to_session: tuple[
            MemoryObjectSendStream[SessionMessage | Exception],
            MemoryObjectReceiveStream[SessionMessage | Exception],
        ] = anyio.create_memory_object_stream[SessionMessage | Exception](math.inf)
        self._to_session, self._session_reads = to_session
        self._pending: dict[str, _Answer] = {}
        self._out: list[bytes] = []
        self._ids = itertools.count(1)
        self._stamp: _Stamp | None = None
        self._stamped_meta: dict[str, Any] | None = None  # what every stamp adds, when constant
        self._closed = False

    @contextlib.asynccontextmanager
    async def transport(self) -> AsyncIterator[TransportStreams]:
        """Start the server; yield the streams the SDK session runs on; stop the server after."""
        loop = asyncio.get_running_loop()
        writes, session_writes = anyio.create_memory_object_stream[SessionMessage](16)
        streams = (writes, session_writes, self._to_session, self._session_reads)
        try:
            process, _ = await loop.subprocess_exec(
                lambda: _Pipes(self),
                *self._command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._errlog,
                env=self._env,
                cwd=self._cwd,
                start_new_session=True,  # its own group: stopping it stops what it started
            )
            self._process = process
            stdin = process.get_pipe_transport(0)
            assert isinstance(stdin, asyncio.WriteTransport)
            self._stdin = stdin
            try:
                async with anyio.create_task_group() as group:
                    group.start_soon(self._write_for_session, session_writes)
                    try:
                        yield self._session_reads, writes
                    finally:
                        group.cancel_scope.cancel()
            finally:
                with anyio.CancelScope(shield=True):
                    await self._stop()
        finally:
            for stream in streams:
                stream.close()

    def bind(self, session: ClientSession) -> bool:
        """Stamp the lane's requests as ``session`` stamps its own, once it has negotiated;
        ``False`` if this SDK's session has no stamp to borrow (calls then go through it).

        Over stdio a stamp adds the same ``_meta`` to every request of a session (the
        negotiated protocol version, the client's name and capabilities; the rest is HTTP
        headers, which a pipe has none of): when two trial stamps of different calls add the
        same, that ``_meta`` is kept and merged into each call, else every call is stamped."""
        stamp = getattr(session, "_stamp", None)
        if not callable(stamp):
            return False
        self._stamp = stamp
        trials = [self._trial(stamp, name) for name in ("a", "b")]
        self._stamped_meta = trials[0] if trials[0] is not None and trials[0] == trials[1] else None
        return True

    @staticmethod
    def _trial(stamp: _Stamp, name: str) -> dict[str, Any] | None:
        """What ``stamp`` adds to a call of tool ``name``, if it adds only ``_meta``."""
        params: dict[str, Any] = {"name": name, "arguments": {"x": name}, "_meta": {}}
        request: dict[str, Any] = {"method": "tools/call", "params": params}
        stamp(request, {})
        untouched = {"name": name, "arguments": {"x": name}}
        if (
            set(request) != {"method", "params"}
            or {k: v for k, v in params.items() if k != "_meta"} != untouched
        ):
            return None
        meta = params.get("_meta")
        return dict(meta) if isinstance(meta, dict) else None

    async def call(
        self, name: str, arguments: Mapping[str, Any], meta: Mapping[str, Any]
    ) -> types.CallToolResult:
        """Call tool ``name``; :class:`MCPError` for an error answer, :class:`LaneClosedError`
        when the connection ended first. Cancelling the call tells the server."""
        if self._stamp is None or self._closed:
            raise LaneClosedError("the connection to the tool server is closed")
        request_id = f"{_ID_PREFIX}{next(self._ids)}"
        stamped = self._stamped_meta
        params = {
            "name": name,
            "arguments": dict(arguments),
            "_meta": {**meta, **stamped} if stamped is not None else dict(meta),
        }
        request: dict[str, Any] = {"method": "tools/call", "params": params}
        if stamped is None:
            self._stamp(request, {})
        request["jsonrpc"] = "2.0"
        request["id"] = request_id
        answer: _Answer = asyncio.get_running_loop().create_future()
        self._pending[request_id] = answer
        self._send(json.dumps(request, separators=(",", ":")).encode() + b"\n")
        try:
            outcome = await answer
        except asyncio.CancelledError:
            if self._pending.pop(request_id, None) is not None and not self._closed:
                note = {
                    "jsonrpc": "2.0",
                    "method": "notifications/cancelled",
                    "params": {"requestId": request_id, "reason": "the caller gave up waiting"},
                }
                self._send(json.dumps(note).encode() + b"\n")
            raise
        error = outcome.get("error")
        if error is not None:
            raise MCPError.from_error_data(types.ErrorData.model_validate(error))
        return types.CallToolResult.model_validate(outcome.get("result"), by_name=False)

    def _send(self, line: bytes) -> None:
        """Queue one line for the server; the lines of one event-loop turn go in one write."""
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.append(line)

    def _flush(self) -> None:
        out, self._out = self._out, []
        stdin = self._stdin
        if stdin is None or stdin.is_closing():
            return  # the server is gone: its calls end with the connection
        stdin.write(b"".join(out))

    async def _write_for_session(self, writes: MemoryObjectReceiveStream[SessionMessage]) -> None:
        async with writes:
            async for item in writes:
                data = item.message.model_dump_json(by_alias=True, exclude_unset=True)
                self._send(data.encode() + b"\n")

    def _received(self, line: bytes) -> None:
        """One line of the server's stdout: a lane call's answer, or a message for the session."""
        if not line.strip():
            return
        try:
            data = json.loads(line)
        except ValueError as error:
            _log.warning("an MCP server wrote a line that is not JSON: %r", line[:200])
            self._to_session_now(error)
            return
        if isinstance(data, dict):
            request_id = data.get("id")
            if isinstance(request_id, str) and request_id.startswith(_ID_PREFIX):
                answer = self._pending.pop(request_id, None)
                if answer is not None and not answer.done():
                    answer.set_result(data)
                return  # an answer to a call given up on is dropped
        try:
            message = types.jsonrpc_message_adapter.validate_python(data, by_name=False)
        except ValidationError as error:
            _log.warning("an MCP server wrote a line that is not JSON-RPC: %r", line[:200])
            self._to_session_now(error)
            return
        self._to_session_now(SessionMessage(message))

    def _to_session_now(self, item: SessionMessage | Exception) -> None:
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._to_session.send_nowait(item)

    def _ended(self) -> None:
        """The server's stdout closed or it exited: calls in flight end, the session sees EOF."""
        if self._closed:
            return
        self._closed = True
        pending, self._pending = self._pending, {}
        for answer in pending.values():
            if not answer.done():
                answer.set_exception(
                    LaneClosedError("the tool server closed the connection during the call")
                )
        self._to_session.close()

    async def _stop(self) -> None:
        """The MCP spec's shutdown: close stdin, wait, SIGTERM the group, wait, SIGKILL it."""
        process = self._process
        if process is None:
            return
        self._flush()
        if self._stdin is not None:
            self._stdin.close()
        group = process.get_pid()  # the leader's pid is the group's id (start_new_session)
        if not await self._wait_exit(_EXIT_GRACE_S):
            self._signal(group, signal.SIGTERM)
            if not await self._wait_exit(_TERM_GRACE_S):
                self._signal(group, signal.SIGKILL)
                if not await self._wait_exit(_TERM_GRACE_S):
                    _log.warning("MCP server %d survived SIGKILL; abandoning it", group)
        # what it started and left behind goes with it (the SDK's stdio client leaves it)
        self._signal(group, signal.SIGKILL)
        self._ended()
        process.close()

    async def _wait_exit(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._exited.wait()
        return self._exited.is_set()

    @staticmethod
    def _signal(group: int, number: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, number)
