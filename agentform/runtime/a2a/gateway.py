"""What the A2A servers need of the engine that hosts them: a small protocol, not the engine.

The local engine (:class:`agentform.runtime.host.engine.Engine`) implements
:class:`EngineGateway`; the A2A host and handler (:mod:`agentform.runtime.a2a.host`,
:mod:`agentform.runtime.a2a.handler`) see only this, so the A2A front door sits below the host
in the layers and never imports it. A fake gateway is all a test of the front door needs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from agentform.contract import AgentValue
from agentform.runtime.audit import AuditEvent
from agentform.runtime.store import RuntimeStore, TaskRecord
from agentform.runtime.store.approvals import Approval, Decided

__all__ = ["EngineGateway", "Unwatch"]

Unwatch = Callable[[], Awaitable[None]]


class EngineGateway(Protocol):
    """The engine as its A2A servers see it."""

    @property
    def workdir(self) -> Path:
        """The engine's directory (the A2A host keeps its ports there)."""

    @property
    def resources(self) -> Mapping[str, Mapping[str, Any]]:
        """The registered resources by address (agents' values build their cards)."""

    @property
    def store(self) -> RuntimeStore | None:
        """The runtime store, once the ``runtime.store`` resource is set up."""

    @property
    def store_url(self) -> str | None: ...

    @property
    def closing(self) -> bool:
        """True while the engine shuts down: no new servers."""

    def agent(self, name: str) -> AgentValue | None:
        """Agent ``name``'s contract value, or None when the engine runs no such agent."""

    async def decide_approval(
        self, task_id: str, decision: Decided, *, subject: str, note: str = ""
    ) -> Approval:
        """Decide the call ``task_id`` waits on, as ``subject``; raises
        :class:`~agentform.runtime.errors.EngineError` (403: the subject may not)."""

    async def admit(self, agent: str, caller: str, *, channel: str) -> None:
        """Count a new task of ``caller`` against ``agent``'s rate limit; raises
        :class:`~agentform.runtime.errors.RateLimited` (429) or ``EngineError`` (503)."""

    async def waiting_on(self, task_id: str) -> Approval | None:
        """The request ``task_id`` waits on (its ``kind``: policy, outcome or question)."""

    async def answer_question(self, task_id: str, text: str, *, subject: str) -> Approval:
        """Answer the question ``task_id``'s model asked, as ``subject`` (who sent the task);
        raises :class:`~agentform.runtime.errors.EngineError` (403: someone else)."""

    async def audit(self, event: AuditEvent) -> None:
        """Append a record to the audit log (a refused request, say)."""

    def config_version(self, agent: str) -> str:
        """A short name of the agent's running configuration (the card's version)."""

    async def submit(
        self,
        agent: str,
        text: str,
        *,
        task_id: str | None = None,
        context_id: str | None = None,
        inputs: Mapping[str, Any] | None = None,
        caller: str | None = None,
        channel: str = "api",
    ) -> TaskRecord:
        """Record and publish a task; raises :class:`~agentform.runtime.errors.EngineError`."""

    async def watch(self, task_id: str, on_event: Callable[[], Awaitable[None]]) -> Unwatch | None:
        """Call ``on_event`` whenever a worker announces progress on ``task_id`` (``*``: any
        task); returns how to stop, or None while the bus is down (callers poll anyway)."""
