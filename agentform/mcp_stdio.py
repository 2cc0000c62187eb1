"""Serving an MCP server written with the ``mcp`` SDK over stdio, on the event loop.

For authors of the tool servers agentform runs (``tools.X.mcp.command``). The SDK's own stdio
transport reads stdin and writes stdout through worker threads, a thread hop for every line each
way: measured on the toy server of the tests, about 250 µs of the server's CPU per tool call, half
of all it spends on a call (``benchmarks/README.md``, issue 19). :func:`run` serves the same SDK
server (an ``MCPServer`` or a low-level ``Server``) with stdin read by the event loop's pipe reader
and the answers of one loop turn written to stdout together. Nothing else changes: the SDK still
parses, dispatches, validates and answers every message.

Like the SDK's transport it keeps the wire to itself: the process's stdin and stdout are moved to
private descriptors, so a tool that prints writes to stderr instead of corrupting the protocol,
and one that reads stdin reads nothing.

    from mcp.server.mcpserver import MCPServer
    from agentform.mcp_stdio import run

    mcp = MCPServer("kb")
    ...
    if __name__ == "__main__":
        run(mcp)

This module imports the ``mcp`` SDK and nothing else of agentform (an import-linter contract):
a tool server stays a small program.
"""

from __future__ import annotations

import asyncio
import math
import os
from typing import Any

import anyio
import mcp_types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.lowlevel import Server
from mcp.server.mcpserver import MCPServer
from mcp.shared.message import SessionMessage

__all__ = ["run", "serve"]

_LINE_LIMIT = 64 * 1024 * 1024  # one message; the SDK's own transport has no limit


def run(server: MCPServer | Server[Any]) -> None:
    """Serve ``server`` on this process's stdin and stdout until the client closes stdin."""
    anyio.run(serve, server)


async def serve(server: MCPServer | Server[Any]) -> None:
    """The coroutine :func:`run` runs, for a program that has its own event loop (asyncio)."""
    lowlevel: object = server
    if isinstance(server, MCPServer):
        lowlevel = getattr(server, "_lowlevel_server", None)
    if not isinstance(lowlevel, Server):
        raise TypeError(
            "agentform.mcp_stdio cannot reach this MCPServer's low-level server (a newer mcp "
            "SDK?); serve it with its own run() instead"
        )
    wire_in, wire_out = _claim_the_wire()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_LINE_LIMIT)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(wire_in, "rb", buffering=0)
    )
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(wire_out, "wb", buffering=0)
    )
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    to_server, reads = anyio.create_memory_object_stream[SessionMessage | Exception](math.inf)
    writes, from_server = anyio.create_memory_object_stream[SessionMessage](math.inf)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(_write, from_server, writer)
            async with anyio.create_task_group() as reading:
                reading.start_soon(_read, reader, to_server)
                await lowlevel.run(reads, writes, lowlevel.create_initialization_options())
                reading.cancel_scope.cancel()
            writes.close()  # the writer sends what is left, then ends
    finally:
        for stream in (to_server, reads, writes, from_server):
            stream.close()
        transport.close()


def _claim_the_wire() -> tuple[int, int]:
    """Private copies of stdin and stdout for the protocol; fd 0 becomes /dev/null and fd 1
    stderr, so what a tool reads or prints never touches the wire."""
    wire_in, wire_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    return wire_in, wire_out


async def _read(
    reader: asyncio.StreamReader, to_server: MemoryObjectSendStream[SessionMessage | Exception]
) -> None:
    """Each line of stdin, parsed, to the server; a line that is not JSON-RPC is handed over as
    the error it is (the SDK answers or logs it, as with its own transport). EOF ends the server."""
    with to_server:
        while line := await reader.readline():
            if not line.strip():
                continue
            try:
                message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
            except ValueError as error:
                to_server.send_nowait(error)
                continue
            to_server.send_nowait(SessionMessage(message))


async def _write(
    from_server: MemoryObjectReceiveStream[SessionMessage], writer: asyncio.StreamWriter
) -> None:
    """The server's messages to stdout, those ready together in one write."""
    async for item in from_server:
        lines = [_encode(item)]
        while True:
            try:
                lines.append(_encode(from_server.receive_nowait()))
            except anyio.WouldBlock:
                break
        writer.write(b"".join(lines))
        await writer.drain()


def _encode(item: SessionMessage) -> bytes:
    return item.message.model_dump_json(by_alias=True, exclude_unset=True).encode() + b"\n"
