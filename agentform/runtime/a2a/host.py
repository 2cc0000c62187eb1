"""One A2A server per agent, inside the engine: started, kept on its port, and stopped.

Owns :class:`A2AHost`. For every agent the engine runs it serves, on 127.0.0.1, a Starlette app
made of the SDK's routes (the agent card at ``/.well-known/agent-card.json``, JSON-RPC at ``/``
with the v0.3 method names accepted too, and the HTTP+JSON routes) around an
:class:`~agentform.runtime.a2a.handler.EngineRequestHandler`, behind the
:class:`~agentform.runtime.a2a.auth.A2AGate`. Each is a uvicorn server in the engine's event
loop on a socket bound here (uvicorn would exit the process if it failed to bind).

An agent keeps its port across reconfigures and engine restarts: ports are recorded in
``a2a.json`` in the engine directory (never dropped, so a re-added agent gets its port back) and
bound again (a new free port only if the old one is taken). The card is built per request from
the agent's current values, so a reconfigured agent needs no restart. A refused request is one
line in the engine's log (:class:`~agentform.runtime.refusals.RefusalLog`, outside the gate); the
SDK's own lines for the same request (a warning, for some malformed bodies a traceback, and
pieces of the body) are dropped (:class:`_SdkRefusals`). The host also owns the
token table (:mod:`agentform.runtime.store.tokens`) on the runtime store's database. Called by
:mod:`agentform.runtime.host.engine` (``sync`` after resources change, ``stop`` at shutdown) and by
the control API (``tokens``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from dataclasses import dataclass
from typing import Any

import uvicorn
from a2a.server.routes import (
    create_agent_card_routes,
    create_jsonrpc_routes,
    create_rest_routes,
)
from a2a.types import AgentCard
from starlette.applications import Starlette

from agentform.addresses import Address
from agentform.runtime.a2a.auth import A2AGate, AgentAccess
from agentform.runtime.a2a.card import agent_card
from agentform.runtime.a2a.gateway import EngineGateway
from agentform.runtime.a2a.handler import EngineRequestHandler
from agentform.runtime.a2a.strict import StrictParams
from agentform.runtime.refusals import RefusalLog
from agentform.runtime.store.tokens import TokenError, TokenStore

__all__ = ["A2AHost"]

log = logging.getLogger("agentform.a2a")


class _SdkRefusals(logging.Filter):
    """Drop what the SDK logs of a request it refuses: :class:`RefusalLog` says it in one line.

    Its dispatchers log every refusal as a warning (with the error's data, which can quote the
    body) and two kinds of malformed JSON-RPC with a traceback. Errors that are not the client's
    (an exception no handler caught, an internal error) stay, with their tracebacks.
    """

    TRACEBACKS = frozenset(
        {"Failed to validate base JSON-RPC request", "Failed to parse request params"}
    )
    LOGGERS = (
        "a2a.server.routes.jsonrpc_dispatcher",
        "a2a.server.routes.rest_dispatcher",
        "a2a.utils.error_handlers",
        "a2a.utils.version_validator",
    )

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR and record.msg not in self.TRACEBACKS

    @classmethod
    def install(cls) -> None:
        for name in cls.LOGGERS:
            logger = logging.getLogger(name)
            if not any(isinstance(f, cls) for f in logger.filters):
                logger.addFilter(cls())


@dataclass
class _Server:
    port: int
    server: uvicorn.Server
    task: asyncio.Task[None]


class A2AHost:
    """The A2A servers of one engine's agents; ``urls`` maps each agent to its address."""

    def __init__(self, engine: EngineGateway) -> None:
        _SdkRefusals.install()
        self.engine = engine
        self.file = engine.workdir / "a2a.json"
        self.servers: dict[str, _Server] = {}
        self.urls: dict[str, str] = {}
        self.tokens: TokenStore | None = None
        self._tokens_url: str | None = None
        self._lock = asyncio.Lock()

    async def sync(self) -> None:
        """Serve exactly the agents the engine has, once its store is set up."""
        async with self._lock:
            await self._sync_tokens()
            wanted = set()
            if self.engine.store is not None and not self.engine.closing:
                wanted = {
                    Address.name_of(a) for a in self.engine.resources if a.startswith("agent.")
                }
            for name in sorted(set(self.servers) - wanted):
                await self._stop(name)
            ports = self._saved_ports()
            for name in sorted(wanted - set(self.servers)):
                try:
                    await self._start(name, ports.get(name, 0))
                except OSError as exc:
                    log.warning("the A2A server of %s did not start: %s", name, exc)
            # never forget a port: a restarting engine restores its agents one resource at a
            # time, and an agent deleted and added again should come back where it was
            keep = ports | {n: s.port for n, s in self.servers.items()}
            if keep != ports:
                self._save_ports(keep)

    async def stop(self) -> None:
        async with self._lock:
            await asyncio.gather(*(self._stop(name) for name in list(self.servers)))
            if self.tokens is not None:
                self.tokens.close()
                self.tokens, self._tokens_url = None, None

    # -- servers ----------------------------------------------------------------------------

    async def _start(self, name: str, port: int) -> None:
        sock = _bind(port)
        port = sock.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        handler = EngineRequestHandler(self.engine, name)

        async def current_card(_card: AgentCard) -> AgentCard:
            return self._card(name, url)

        app = Starlette(
            routes=[
                *create_agent_card_routes(self._card(name, url), card_modifier=current_card),
                *create_jsonrpc_routes(handler, "/", enable_v0_3_compat=True),
                *create_rest_routes(handler),
            ]
        )
        gate = A2AGate(
            StrictParams(app),
            agent=name,
            authenticate=self._authenticate,
            access=lambda: self._access(name),
            admit=lambda subject: self.engine.admit(name, subject, channel="a2a"),
        )
        config = uvicorn.Config(
            RefusalLog(gate, f"a2a {name}", rpc_path="/"),
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server._serve(sockets=[sock]), name=f"a2a-{name}")
        self.servers[name] = _Server(port, server, task)
        self.urls[name] = url
        log.info("A2A server of %s at %s", name, url)

    async def _stop(self, name: str) -> None:
        entry = self.servers.pop(name)
        self.urls.pop(name, None)
        entry.server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(entry.task), 5)
        except (TimeoutError, Exception):
            entry.task.cancel()
            with contextlib.suppress(BaseException):
                await entry.task

    def _card(self, name: str, url: str) -> AgentCard:
        agent = self.engine.agent(name)  # None while the agent is being deleted
        return agent_card(name, agent, url, self.engine.config_version(name))

    def _access(self, name: str) -> AgentAccess:
        agent = self.engine.agent(name)
        if agent is None:
            return AgentAccess()
        deciders = {
            subject
            for policy in agent.policies
            for subject in self.engine.resources.get(f"policy.{policy}", {}).get("deciders", [])
        }
        return AgentAccess(
            frozenset(agent.invokers),
            frozenset(agent.cancelers),
            frozenset(agent.readers),
            frozenset(deciders),
        )

    # -- tokens -----------------------------------------------------------------------------

    async def _sync_tokens(self) -> None:
        url = self.engine.store_url if self.engine.store is not None else None
        if url == self._tokens_url:
            return
        if self.tokens is not None:
            self.tokens.close()
            self.tokens = None
        self._tokens_url = url
        if url is not None:
            try:
                self.tokens = await asyncio.to_thread(TokenStore, url)
            except TokenError as exc:
                log.warning("%s; every A2A request is refused until it works", exc)
                self._tokens_url = None

    async def _authenticate(self, token: str) -> str | None:
        tokens = self.tokens
        if tokens is None:
            return None
        try:
            return await asyncio.to_thread(tokens.authenticate, token)
        except TokenError as exc:
            log.warning("token check failed: %s", exc)
            return None

    # -- ports ------------------------------------------------------------------------------

    def _saved_ports(self) -> dict[str, int]:
        try:
            saved: Any = json.loads(self.file.read_text())
            return {str(k): int(v) for k, v in saved.items()}
        except (OSError, ValueError, AttributeError, TypeError):
            return {}

    def _save_ports(self, ports: dict[str, int]) -> None:
        tmp = self.file.with_name(f".{self.file.name}.tmp")
        with contextlib.suppress(OSError):
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(ports, indent=1, sort_keys=True))
            tmp.replace(self.file)


def _bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1: ``port`` if it is free, else any free port."""
    for candidate in [port, 0] if port else [0]:
        # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on connections of a socket that says
        # it is TCP, and without it every answer on a kept-alive connection waited 40 ms for
        # the client's delayed ACK (Nagle)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", candidate))
        except OSError:
            sock.close()
            if candidate == 0:
                raise
            continue
        sock.listen(128)
        sock.set_inheritable(False)
        return sock
    raise OSError("no port to bind")  # unreachable: binding port 0 raised above
