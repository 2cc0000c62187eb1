"""Test MCP server for ``tests/runtime/tools/test_toolbox.py``: small tools, each proving one
behaviour.

Run over stdio (``python toys.py``) or streamable HTTP (``python toys.py --http PORT``).
Environment: ``TOYS_PID_FILE`` (the server writes its pid there at start, so tests can check it
is gone after ``aclose``), ``TOYS_COUNTER_FILE`` (``counter`` appends a line there),
``TOYS_SECRET`` (returned by ``secret``), ``TOYS_NAME`` (the server's name, to tell two apart),
``TOYS_STDIO`` (``loop``: served by :mod:`agentform.mcp_stdio` instead of the SDK's transport).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

mcp = MCPServer(os.environ.get("TOYS_NAME", "toys"))


@mcp.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return f"{os.environ.get('TOYS_NAME', 'toys')}:{text}"


@mcp.tool()
def add(a: int, b: int) -> dict[str, int]:
    """Add two integers."""
    return {"sum": a + b}


@mcp.tool()
def fail(reason: str = "broken") -> str:
    """Always fail with a ToolError."""
    raise ToolError(f"failed on purpose: {reason}")


@mcp.tool()
async def slow(seconds: float) -> str:
    """Sleep, then answer."""
    await asyncio.sleep(seconds)
    return "done"


@mcp.tool()
async def hang(seconds: float = 3600.0) -> str:
    """Block the server's event loop (a stuck server: it answers nothing, pings included)."""
    time.sleep(seconds)
    return "woke up"


@mcp.tool()
def counter(label: str = "x") -> int:
    """Append a line to $TOYS_COUNTER_FILE and return how many lines it has."""
    path = Path(os.environ["TOYS_COUNTER_FILE"])
    with path.open("a", encoding="utf-8") as f:
        f.write(label + "\n")
    return len(path.read_text(encoding="utf-8").splitlines())


@mcp.tool()
def crash(once_file: str = "") -> str:
    """Exit the process at once; with ``once_file``, only when that file does not exist yet."""
    if once_file and Path(once_file).exists():
        return "survived"
    if once_file:
        Path(once_file).write_text("crashed", encoding="utf-8")
    os._exit(3)


@mcp.tool()
async def mark_after(seconds: float, path: str) -> str:
    """Sleep, then write ``path``: a call cancelled in time leaves no file."""
    await asyncio.sleep(seconds)
    Path(path).write_text("ran", encoding="utf-8")
    return "marked"


@mcp.tool()
def junk(line: str = "this is not JSON") -> str:
    """Write a line that is not a JSON-RPC message to stdout (a server that prints by mistake)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    return "wrote junk"


@mcp.tool()
def spawn(pid_file: str) -> str:
    """Start a long ``sleep`` child (in the server's process group) and write its pid."""
    child = subprocess.Popen(["sleep", "300"])
    Path(pid_file).write_text(str(child.pid), encoding="utf-8")
    return "spawned"


@mcp.tool()
def secret() -> str:
    """Return $TOYS_SECRET."""
    return os.environ.get("TOYS_SECRET", "")


@mcp.tool()
def meta(ctx: Context) -> str:
    """Return the request's _meta and headers as JSON."""
    m: Any = ctx.request_context.meta or {}
    headers = dict(ctx.headers or {})
    return json.dumps({"meta": dict(m), "authorization": headers.get("authorization")})


if __name__ == "__main__":
    pid_file = os.environ.get("TOYS_PID_FILE")
    if pid_file:
        Path(pid_file).write_text(str(os.getpid()), encoding="utf-8")
    print("toys server starting", file=sys.stderr)
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        mcp.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    elif os.environ.get("TOYS_STDIO") == "loop":
        from agentform.mcp_stdio import run

        run(mcp)
    else:
        mcp.run()
