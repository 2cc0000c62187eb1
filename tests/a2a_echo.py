"""A real A2A server for tests of ``a2a`` tools: the SDK's server pieces around an echo agent.

:class:`EchoAgent` answers ``echo: <text>``; ``fail`` makes its task fail, ``slow`` makes it take
``slow_seconds``. :func:`serve_echo` runs it with uvicorn on 127.0.0.1 on a free port in a
thread, optionally requiring a bearer token, and records what each request carried.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import uvicorn
from a2a.helpers import new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandlerV2
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill
from a2a.utils.constants import PROTOCOL_VERSION_CURRENT, TransportProtocol
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["EchoServer", "echo_card", "serve_echo"]


@dataclass
class EchoServer:
    """A running echo agent: its base URL and what it has seen."""

    url: str
    description: str = "Echoes what it is told."  # change it to change the served card
    authorizations: list[str] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)


class EchoAgent(AgentExecutor):
    def __init__(self, seen: EchoServer, slow_seconds: float) -> None:
        self.seen = seen
        self.slow_seconds = slow_seconds

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        self.seen.message_ids.append(context.message.message_id)
        text = context.get_user_input()
        task = context.current_task or new_task_from_user_message(context.message)
        await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        if text == "fail":
            await updater.failed(updater.new_agent_message([new_text_part("it broke")]))
            return
        if text == "slow":
            await asyncio.sleep(self.slow_seconds)
        await updater.add_artifact([new_text_part(f"echo: {text}")])
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        return None


def echo_card(url: str, description: str = "Echoes what it is told.") -> AgentCard:
    return AgentCard(
        name="echo",
        description=description,
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(
                url=f"{url}/",
                protocol_binding=TransportProtocol.JSONRPC.value,
                protocol_version=PROTOCOL_VERSION_CURRENT,
            )
        ],
        capabilities=AgentCapabilities(streaming=False),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="echo", name="echo", description="Say it back.", tags=["echo"])],
    )


class _Bearer:
    """401 for every request but the card's without ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, token: str | None, seen: EchoServer) -> None:
        self.app, self.token, self.seen = app, token, seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/.well-known/"):
            given = Request(scope).headers.get("authorization", "")
            self.seen.authorizations.append(given)
            if self.token is not None and given != f"Bearer {self.token}":
                response: Response = JSONResponse({"error": "unauthorized"}, status_code=401)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.contextmanager
def serve_echo(
    *, token: str | None = None, description: str = "Echoes what it is told.", slow: float = 5.0
) -> Iterator[EchoServer]:
    """An echo agent served until the block ends."""
    sock = _free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    seen = EchoServer(url, description)
    card = echo_card(url, description)

    async def current(_: AgentCard) -> AgentCard:
        return echo_card(url, seen.description)

    handler = DefaultRequestHandlerV2(EchoAgent(seen, slow), InMemoryTaskStore(), card)
    routes = [*create_agent_card_routes(card, card_modifier=current)]
    app = Starlette(routes=[*routes, *create_jsonrpc_routes(handler, "/")])
    config = uvicorn.Config(_Bearer(app, token, seen), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the echo A2A server did not start"
    try:
        yield seen
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
