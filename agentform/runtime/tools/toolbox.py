"""The tools one agent may use (MCP servers' tools, outside A2A agents): which exist, what the
model sees, and calling them safely.

This module owns :class:`Toolbox`, built by the worker (:mod:`agentform.runtime.worker.process`)
from the
agent's spec tools as plain values, and :class:`ToolResult`, what a call hands back. A tool call
never raises: a failure, a timeout, an unknown name or a crashed server becomes a result with
``is_error=True`` that the model reads. Only :meth:`Toolbox.start` raises,
:class:`ToolStartError`, because an agent whose servers cannot start cannot do its job.

Launching and talking to servers is :mod:`agentform.runtime.tools.mcp_client`'s concern, and talking
to outside agents (tools of type ``a2a``) :mod:`agentform.runtime.tools.remote_agent`'s; this module
decides names (collisions become ``<tool>__<name>``), ``expose`` filtering, per-tool timeouts, and
what a crash means given the tool's declared side effects. See ``docs/tools.md``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, cast

import mcp_types as types

from agentform.contract import ContractError, ToolValue, received
from agentform.contract.values import A2aAgent
from agentform.durations import format_duration, parse_duration
from agentform.runtime.conversation import ToolSpec
from agentform.runtime.tools.mcp_client import (
    Connection,
    ServerGoneError,
    ServerParams,
    ToolStartError,
)

if TYPE_CHECKING:
    from agentform.runtime.tools.remote_agent import RemoteAgent

__all__ = ["IDEMPOTENCY_META_KEY", "ToolResult", "ToolStartError", "Toolbox"]

IDEMPOTENCY_META_KEY = "agentform/idempotency_key"
DEFAULT_TIMEOUT = "60s"
# after a call timed out: how long its server has to answer a ping before it counts as stuck
# (a tool that blocks the server's event loop answers nothing more) and is restarted
PING_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool call gave back, as the model will read it. ``unknown``: an unsafe call
    whose outcome nobody knows (it timed out, or its server exited while it ran): the agent
    loop settles it as it settles a call a crash interrupted, never by making it again."""

    content: str
    is_error: bool
    tool: str
    unknown: bool = False


@dataclass(frozen=True, slots=True)
class _Route:
    """Where a model-facing tool name leads: a spec tool's server and the MCP tool name there."""

    tool: str
    mcp_name: str
    spec: ToolSpec


def tool_value(name: str, values: ToolValue | Mapping[str, Any]) -> ToolValue:
    """Tool ``name``'s contract value (JSON values are checked against the contract first);
    :class:`ToolStartError` naming the field that is wrong."""
    if isinstance(values, ToolValue):
        return values
    try:
        found = received(f"tool.{name}", values)
    except ContractError as exc:
        raise ToolStartError(f"tool {name!r}: {exc}") from None
    assert isinstance(found, ToolValue)
    return found


class _Server:
    """A spec tool: its settings and its current connection, restarted at most one at a time;
    or, for an a2a tool, the outside agent (``params`` is then None)."""

    def __init__(self, name: str, value: ToolValue, params: ServerParams | None) -> None:
        self.name = name
        self.params = params
        self.side_effects = value.side_effects
        self.timeout = value.timeout or parse_duration(DEFAULT_TIMEOUT)
        self.expose = None if value.expose is None else tuple(value.expose)
        self.description = value.description
        self.connection: Connection | None = None
        self.agent: RemoteAgent | None = None
        self.generation = 0
        self.lock = asyncio.Lock()


def _text_of(result: types.CallToolResult) -> str:
    """Text blocks joined; structured content as JSON when there is no text; other blocks named."""
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, types.TextContent):
            parts.append(block.text)
        elif isinstance(block, types.EmbeddedResource) and isinstance(
            block.resource, types.TextResourceContents
        ):
            parts.append(block.resource.text)
        else:
            parts.append(f"[{block.type} content omitted]")
    has_text = any(isinstance(b, types.TextContent) for b in result.content)
    if not has_text and result.structured_content is not None:
        parts.insert(0, json.dumps(result.structured_content, sort_keys=True))
    return "\n".join(parts)


class Toolbox:
    """All the tools one agent may use."""

    def __init__(
        self,
        tools: Mapping[str, ToolValue | Mapping[str, Any]],
        *,
        base_dir: Path,
        secret: Callable[[str], str | None],
        log: logging.Logger | None = None,
    ) -> None:
        self._values = {name: tool_value(name, values) for name, values in tools.items()}
        self._base_dir = base_dir
        self._secret = secret
        self._log = log or logging.getLogger(__name__)
        self._servers: dict[str, _Server] = {}
        self._routes: dict[str, _Route] = {}

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Connect every server and learn its tools, all at once (each server is a process of
        its own: a worker with three waited for three interpreter starts in a row); raise
        :class:`ToolStartError` for the first server, in declared order, that cannot start (the
        others are stopped again)."""
        try:
            names = list(self._values)
            opened = await asyncio.gather(
                *(self._open(name, self._values[name]) for name in names), return_exceptions=True
            )
            for result in opened:
                if isinstance(result, BaseException):
                    raise result
            found = [cast(list[types.Tool], tools) for tools in opened]
            listings = dict(zip(names, found, strict=True))
            self._routes = self._route(listings)
        except BaseException:
            await self.aclose()
            raise

    async def _open(self, name: str, values: ToolValue) -> list[types.Tool]:
        if values.a2a is not None:
            return [await self._open_agent(name, values, values.a2a)]
        if values.mcp is None:
            raise ToolStartError(f"tool {name!r} has neither mcp nor a2a; set one")
        params = ServerParams.of(name, values.mcp, base_dir=self._base_dir, secret=self._secret)
        server = self._servers[name] = _Server(name, values, params)
        server.connection = Connection(params, self._log)
        return self._exposed(server, await server.connection.open())

    async def _open_agent(self, name: str, values: ToolValue, a2a: A2aAgent) -> types.Tool:
        """Resolve an a2a tool's card; the one tool the model sees for it, named after it."""
        # imported here: the a2a SDK costs start time that agents with only MCP tools need not pay
        from agentform.runtime.tools.remote_agent import RemoteAgent, input_schema

        server = self._servers[name] = _Server(name, values, None)
        agent = server.agent = RemoteAgent(name, a2a, secret=self._secret, log=self._log)
        await agent.open()
        description = agent.description(server.description)
        return types.Tool(name=name, description=description, input_schema=input_schema())

    def _exposed(self, server: _Server, listed: list[types.Tool]) -> list[types.Tool]:
        if server.expose is None:
            return listed
        by_name = {tool.name: tool for tool in listed}
        missing = [name for name in server.expose if name not in by_name]
        if missing:
            raise ToolStartError(
                f"tool {server.name!r} exposes {', '.join(map(repr, missing))}, which its MCP "
                f"server does not offer (it offers {', '.join(sorted(by_name)) or 'no tools'}); "
                "fix the expose list in the spec"
            )
        return [by_name[name] for name in server.expose]

    def _route(self, listings: Mapping[str, list[types.Tool]]) -> dict[str, _Route]:
        owners: dict[str, int] = {}
        for listed in listings.values():
            for tool in listed:
                owners[tool.name] = owners.get(tool.name, 0) + 1
        routes: dict[str, _Route] = {}
        for server_name, listed in listings.items():
            for tool in listed:
                # two servers offering one name: neither wins, both get their tool's name in front
                name = tool.name if owners[tool.name] == 1 else f"{server_name}__{tool.name}"
                description = tool.description or self._servers[server_name].description
                spec = ToolSpec(name, description, dict(tool.input_schema))
                routes[name] = _Route(server_name, tool.name, spec)
        return routes

    async def aclose(self) -> None:
        """Stop every stdio server process and end every HTTP session."""
        servers, self._servers, self._routes = list(self._servers.values()), {}, {}
        for server in servers:
            if server.agent is not None:
                await server.agent.close()
            if server.connection is not None:
                await server.connection.close()
                server.connection = None

    def specs(self) -> list[ToolSpec]:
        """Every tool the model may call, with its input schema as parameters."""
        return [route.spec for route in self._routes.values()]

    def owner(self, name: str) -> str | None:
        """The spec tool serving model-facing tool ``name``; ``None`` if there is no such tool."""
        route = self._routes.get(name)
        return route.tool if route else None

    def side_effects(self, name: str) -> str:
        """``none``, ``idempotent`` or ``unsafe``; an unknown tool counts as ``unsafe``."""
        route = self._routes.get(name)
        return self._servers[route.tool].side_effects if route else "unsafe"

    async def call(
        self, name: str, arguments: Mapping[str, Any], *, idempotency_key: str
    ) -> ToolResult:
        """Call tool ``name``; every failure comes back as ``is_error`` for the model to read."""
        route = self._routes.get(name)
        if route is None:
            available = ", ".join(sorted(self._routes)) or "none"
            return ToolResult(f"there is no tool {name!r}; available tools: {available}", True, "")
        server = self._servers[route.tool]
        if server.agent is not None:
            text = arguments.get("message")
            if not isinstance(text, str) or not text:
                return ToolResult(
                    f"{name} takes one argument, message (a string)", True, route.tool
                )
            # the idempotency key is the A2A messageId: a retried call is the same message
            answer = await server.agent.ask(
                text, message_id=idempotency_key, timeout=server.timeout, label=name
            )
            return ToolResult(answer.text, answer.is_error, server.name)
        # RequestParamsMeta is an open TypedDict (extra_items=Any) that mypy cannot express yet
        meta = cast(types.RequestParamsMeta, {IDEMPOTENCY_META_KEY: idempotency_key})
        generation = server.generation  # the connection this call goes out on
        try:
            return await self._attempt(server, route, arguments, meta)
        except ServerGoneError as gone:
            self._log.warning("tool %s: MCP server connection lost (%s)", server.name, gone)
            restarted = await self._restart(server, generation)
            if server.side_effects == "unsafe":
                return ToolResult(
                    f"the tool server exited during {name}; the outcome is unknown (the tool "
                    "has side effects, so it was not retried: check before calling it again)",
                    True,
                    server.name,
                    unknown=True,
                )
            if restarted is not None:
                return ToolResult(
                    f"the tool server exited during {name} and could not be restarted: {restarted}",
                    True,
                    server.name,
                )
            generation = server.generation
            try:
                return await self._attempt(server, route, arguments, meta)
            except ServerGoneError:
                await self._restart(server, generation)
                return ToolResult(
                    f"the tool server exited twice during {name}; it was not retried again",
                    True,
                    server.name,
                )

    async def _attempt(
        self,
        server: _Server,
        route: _Route,
        arguments: Mapping[str, Any],
        meta: types.RequestParamsMeta,
    ) -> ToolResult:
        """One call with the tool's timeout; raises only :class:`ServerGoneError`."""
        connection, generation = server.connection, server.generation
        if connection is None:
            raise ServerGoneError(f"tool {server.name!r} is not running")
        try:
            async with asyncio.timeout(server.timeout.total_seconds()):
                result = await connection.call(route.mcp_name, arguments, meta)
        except ServerGoneError:
            raise
        except TimeoutError:
            text = (
                f"{route.spec.name} timed out after {format_duration(server.timeout)}; it may "
                "still have run"
            )
            if not await connection.ping(PING_TIMEOUT_S):
                self._log.warning(
                    "tool %s: its MCP server answers no ping after %s timed out; restarting it",
                    server.name,
                    route.mcp_name,
                )
                failed = await self._restart(server, generation)
                text += (
                    f" (its server had stopped answering and could not be restarted: {failed})"
                    if failed is not None
                    else " (its server had stopped answering and was restarted)"
                )
            unsafe = server.side_effects == "unsafe"
            return ToolResult(text, True, server.name, unknown=unsafe)
        except Exception as error:
            # a malformed answer or a protocol error is the model's problem to route around,
            # not a reason to crash the task
            self._log.warning("tool %s: call to %s failed: %r", server.name, route.mcp_name, error)
            return ToolResult(f"{route.spec.name} failed: {error}", True, server.name)
        return ToolResult(_text_of(result), bool(result.is_error), server.name)

    async def _restart(self, server: _Server, generation: int) -> str | None:
        """Restart a crashed or stuck server once per crash: unless another call restarted it
        since ``generation`` (the connection the caller used); the error message if it would
        not start."""
        async with server.lock:
            if server.generation != generation:
                return None  # a concurrent call already restarted it
            server.generation += 1
            if server.connection is not None:
                await server.connection.close()
            assert server.params is not None  # a2a tools have no server to restart
            server.connection = Connection(server.params, self._log)
            try:
                await server.connection.open()
            except ToolStartError as error:
                server.connection = None
                return str(error)
            return None
