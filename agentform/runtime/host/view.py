"""What the engine's parts see of it: a small protocol instead of the ``Engine`` class.

The bus link (:mod:`.bus_link`), the rollout (:mod:`.rollout`) and the health checks
(:mod:`.health`) are functions of the local engine's state; they take an :class:`EngineView`, which
:class:`agentform.runtime.host.engine.Engine` implements, so none of them imports the engine and
the engine imports all of them: no import cycle, and each can be tested against a plain object.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Protocol

from agentform.runtime.a2a import A2AHost
from agentform.runtime.audit import AuditEvent
from agentform.runtime.bus import BusLayout, Connection
from agentform.runtime.bus.auth import BusUsers
from agentform.runtime.bus.server import NatsServer
from agentform.runtime.host.files import EngineFiles
from agentform.runtime.host.supervisor import AgentGroup
from agentform.runtime.store import RuntimeStore
from agentform.runtime.store.approvals import ApprovalBook
from agentform.runtime.store.audit import AuditLog
from agentform.runtime.store.breakers import BreakerBook
from agentform.runtime.store.memory.stores import MemoryStores
from agentform.runtime.store.ratelimits import Limiter

__all__ = ["EngineView"]


class EngineView(Protocol):
    """The local engine's state and the three things its parts ask of it."""

    files: EngineFiles
    project: str
    base_dir: Path
    resources: dict[str, dict[str, Any]]
    secrets: dict[str, str]
    groups: dict[str, AgentGroup]
    nats_server: NatsServer | None
    nc: Connection | None
    layout: BusLayout
    bus_url: str | None
    store: RuntimeStore | None
    store_url: str | None
    closing: bool
    mutex: asyncio.Lock
    children_checked: float
    started: float
    notes: list[str]
    memories: MemoryStores
    a2a: A2AHost
    approvals: ApprovalBook | None
    audit_log: AuditLog | None
    bus_users: BusUsers | None  # the embedded server's users (None: an outside NATS)
    limiter: Limiter | None  # rate-limit counters in the runtime store
    breakers: BreakerBook | None  # agents' open circuit breakers, in the runtime store

    async def audit(self, event: AuditEvent) -> None:
        """Append a record to the audit log (logged, never raised, when it cannot)."""

    def note(self, text: str) -> None:
        """Remember a line for ``agentform engine status`` (and log it)."""

    def write_info(self) -> None:
        """Rewrite ``engine.json`` (pid, ports, urls)."""

    def persist(self) -> None:
        """Write the registered resources, so a restarted engine brings them back."""
