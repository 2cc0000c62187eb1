"""One outside agent reached over A2A: resolving its card, sending a message, reading the answer.

This module owns the ``a2a-sdk`` client for the runtime. A spec tool of type ``a2a`` names the URL
of an agent card (or the agent's base URL, whose card is at the well-known path);
:class:`RemoteAgent` resolves the card when the toolbox starts (:class:`ToolStartError` if it does
not), and :meth:`RemoteAgent.ask` sends one blocking ``message/send`` whose ``messageId`` is the
call's idempotency key, so a retried call is the same message to the remote agent. ``ask`` never
raises: a failed task, a refused credential, a timeout or a lost connection comes back as an
:class:`Answer` with ``is_error`` and a sentence the model can act on. Its only caller is
:mod:`agentform.runtime.tools.toolbox`. See ``docs/tools.md``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from a2a.client import A2ACardResolver, A2AClientError, A2AClientTimeoutError, ClientConfig
from a2a.client.client_factory import ClientFactory
from a2a.helpers import get_artifact_text, get_message_text, new_text_part
from a2a.types import AgentCard, Message, Role, SendMessageRequest, Task, TaskState

from agentform.contract.values import A2aAgent
from agentform.durations import format_duration
from agentform.remote_cards import WELL_KNOWN_PATH, card_url
from agentform.runtime.tools.mcp_client import ToolStartError, resolve_secrets

__all__ = ["Answer", "RemoteAgent", "input_schema"]

# the card is a small JSON document; a server that has not served it by then is not going to
CARD_TIMEOUT = 10.0
IDEMPOTENCY_METADATA_KEY = "agentform/idempotency_key"
_STATE_WORDS = {
    TaskState.TASK_STATE_FAILED: "failed",
    TaskState.TASK_STATE_CANCELED: "was canceled",
    TaskState.TASK_STATE_REJECTED: "rejected the message",
    TaskState.TASK_STATE_INPUT_REQUIRED: "asks for more input, which a tool call cannot give",
    TaskState.TASK_STATE_AUTH_REQUIRED: "asks for authentication",
}


def input_schema() -> dict[str, Any]:
    """What the model passes to an a2a tool: one message."""
    return {
        "type": "object",
        "properties": {
            "message": {"type": "string", "description": "What to ask or tell the agent."}
        },
        "required": ["message"],
        "additionalProperties": False,
    }


@dataclass(frozen=True, slots=True)
class Answer:
    """The remote agent's answer text, or a sentence saying why there is none."""

    text: str
    is_error: bool


class RemoteAgent:
    """An outside agent: its card, resolved by :meth:`open`, and an SDK client to message it."""

    def __init__(
        self,
        tool: str,
        value: A2aAgent,
        *,
        secret: Callable[[str], str | None],
        log: logging.Logger,
    ) -> None:
        self.tool = tool
        self.url = card_url(resolve_secrets(tool, "url", value.url, secret))
        self.headers = {
            name: resolve_secrets(tool, f"header {name}", header, secret)
            for name, header in value.headers.items()
        }
        self._log = log
        self._http: httpx.AsyncClient | None = None
        self._client: Any = None
        self.card: AgentCard | None = None

    def description(self, fallback: str = "") -> str:
        """The card's description and skills, for the model; ``fallback`` without a card."""
        card = self.card
        if card is None:
            return fallback
        lines = [card.description or fallback or f"The agent {card.name}."]
        lines += [f"- {s.name}: {s.description}".rstrip(": ") for s in card.skills]
        if card.skills:
            lines.insert(1, "Skills:")
        return "\n".join(lines)

    async def open(self) -> AgentCard:
        """Resolve the card and make the client; :class:`ToolStartError` if either fails."""
        # reads wait as long as the call's own timeout allows (asyncio.timeout in ask)
        self._http = httpx.AsyncClient(
            headers=self.headers, timeout=httpx.Timeout(None, connect=CARD_TIMEOUT)
        )
        try:
            resolver = A2ACardResolver(self._http, self.url)
            card = await resolver.get_agent_card(
                relative_card_path="/", http_kwargs={"timeout": CARD_TIMEOUT}
            )
            factory = ClientFactory(ClientConfig(streaming=False, httpx_client=self._http))
            self._client = factory.create(card)
        except Exception as error:
            await self.close()
            raise ToolStartError(
                f"tool {self.tool!r}: the agent card at {self.url} does not resolve "
                f"({_why(error)}); "
                "check the tool's a2a url and that the agent is running, then start again"
            ) from error
        self.card = card
        return card

    async def close(self) -> None:
        client, http, self._client, self._http = self._client, self._http, None, None
        if client is not None:
            await client.close()
        if http is not None:
            await http.aclose()

    async def ask(self, text: str, *, message_id: str, timeout: timedelta, label: str) -> Answer:
        """Send ``text`` as one message and wait for the answer, at most ``timeout`` seconds."""
        if self._client is None:
            return Answer(f"{label}: the agent at {self.url} is not connected", True)
        message = Message(role=Role.ROLE_USER, message_id=message_id, parts=[new_text_part(text)])
        message.metadata.update({IDEMPOTENCY_METADATA_KEY: message_id})
        request = SendMessageRequest(message=message)
        request.configuration.return_immediately = False
        try:
            async with asyncio.timeout(timeout.total_seconds()):
                responses = [r async for r in self._client.send_message(request)]
        except (TimeoutError, A2AClientTimeoutError):
            took = format_duration(timeout)
            return Answer(f"{label} timed out after {took}; the agent may still be working", True)
        except A2AClientError as error:
            return Answer(self._unreachable(label, error), True)
        except Exception as error:
            # the SDK maps JSON-RPC errors to A2AError subclasses; any of them is an answer
            self._log.warning("tool %s: A2A call failed: %r", self.tool, error)
            return Answer(f"{label} failed: {type(error).__name__}: {error}", True)
        if not responses:
            return Answer(f"{label}: the agent answered nothing", True)
        last = responses[-1]
        if last.HasField("message"):
            return Answer(get_message_text(last.message), False)
        if last.HasField("task"):
            return _answer_of(last.task, label)
        return Answer(f"{label}: the agent's answer had neither a message nor a task", True)

    def _unreachable(self, label: str, error: Exception) -> str:
        where = self.url.removesuffix(WELL_KNOWN_PATH)
        cause = _http_cause(error)
        if isinstance(cause, httpx.HTTPStatusError) and cause.response.status_code in (401, 403):
            return (
                f"{label}: the agent at {where} refused the credentials "
                f"(HTTP {cause.response.status_code}); the tool's a2a headers or their secret "
                "need fixing, retrying will not help"
            )
        if isinstance(cause, httpx.ConnectError):
            return (
                f"{label}: could not connect to the agent at {where} ({_why(error)}); the "
                "message was not delivered, retrying later may help"
            )
        return (
            f"{label}: the call to the agent at {where} failed ({_why(error)}); it may have "
            "received the message"
        )


def _http_cause(error: BaseException) -> BaseException | None:
    """The httpx error behind an SDK error, if there is one."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, httpx.HTTPError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _why(error: BaseException) -> str:
    """What went wrong, in a few words."""
    cause = _http_cause(error)
    if isinstance(cause, httpx.HTTPStatusError):
        return f"HTTP {cause.response.status_code}"
    if isinstance(cause, httpx.TimeoutException):
        return "no answer in time"
    if cause is not None:
        return str(cause) or type(cause).__name__
    return str(error) or type(error).__name__


def _answer_of(task: Task, label: str) -> Answer:
    state = task.status.state
    said = get_message_text(task.status.message) if task.status.HasField("message") else ""
    if state == TaskState.TASK_STATE_COMPLETED:
        texts = [get_artifact_text(a) for a in task.artifacts]
        text = "\n".join(t for t in texts if t) or said
        return Answer(text, False)
    word = _STATE_WORDS.get(state, f"stopped in state {TaskState.Name(state)}")
    return Answer(f"{label}: the agent {word}" + (f": {said}" if said else ""), True)
