"""The engine's runtime store and the tasks recorded into it.

:class:`EngineStore` is the part of :class:`~agentform.runtime.host.engine.Engine` that opens the
runtime store the spec names (``runtime.store``) with the tables kept beside it (approvals, the
audit log, rate counters, circuit breakers, the schedules' jobs, the memory stores), after
claiming it for this project (:mod:`agentform.runtime.store.owner`), and closes them; and that
submits a task: its agent's content filters first, then recorded, then published on the bus (it
is accepted once JetStream has stored it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentform.contract import AgentValue
from agentform.runtime import bus
from agentform.runtime.bus import BusLayout, TaskMessage
from agentform.runtime.errors import EngineError
from agentform.runtime.host import screening
from agentform.runtime.host.files import EngineFiles, resolve_store_url, store_url_for
from agentform.runtime.host.supervisor import AgentGroup
from agentform.runtime.scheduler import Schedules
from agentform.runtime.store import RuntimeStore, StoreError, TaskRecord
from agentform.runtime.store.approvals import ApprovalBook
from agentform.runtime.store.audit import AuditLog
from agentform.runtime.store.breakers import BreakerBook
from agentform.runtime.store.ids import new_id
from agentform.runtime.store.memory.service import MemoryStoreError
from agentform.runtime.store.memory.stores import MemoryStores
from agentform.runtime.store.owner import WrongProject, claim_store
from agentform.runtime.store.ratelimits import Limiter

__all__ = ["EngineStore"]


class EngineStore:
    """The runtime store's part of the engine (the attributes are the engine's)."""

    files: EngineFiles
    project: str
    base_dir: Path
    resources: dict[str, dict[str, Any]]
    groups: dict[str, AgentGroup]
    nc: bus.Connection | None
    layout: BusLayout
    store: RuntimeStore | None
    store_url: str | None
    approvals: ApprovalBook | None
    audit_log: AuditLog | None
    breakers: BreakerBook | None
    limiter: Limiter | None
    schedules: Schedules
    memories: MemoryStores

    if TYPE_CHECKING:  # the engine's

        def agent(self, name: str) -> AgentValue | None: ...

    def _close_store(self, *, memories: bool = True) -> None:
        """Close the runtime store and the tables beside it (approvals, audit log, rate-limit
        counters) and, with ``memories``, the memory stores."""
        for part in (self.store, self.approvals, self.audit_log, self.limiter, self.breakers):
            if part is not None:
                part.close()
        self.store, self.approvals, self.audit_log, self.limiter = None, None, None, None
        self.schedules.close()
        self.breakers = None
        if memories:
            self.memories.close()

    async def _set_store(self, values: Mapping[str, Any]) -> None:
        url = resolve_store_url(
            store_url_for(values.get("url"), self.files.environment), self.base_dir
        )
        if url == self.store_url and self.store is not None:
            return
        try:
            store = await asyncio.to_thread(RuntimeStore, url)
        except Exception as exc:
            raise EngineError(f"the runtime store is not usable: {exc}", 503) from exc
        try:  # one project a runtime store, claimed before anything is written there
            await asyncio.to_thread(claim_store, url, self.project, str(self.base_dir))
        except StoreError as exc:
            store.close()
            raise EngineError(str(exc), 409 if isinstance(exc, WrongProject) else 503) from None
        self._close_store(memories=False)  # the memory stores move below instead
        self.store, self.store_url = store, url
        self.approvals = await asyncio.to_thread(ApprovalBook, url)
        self.audit_log = await asyncio.to_thread(AuditLog, url)
        self.limiter = await asyncio.to_thread(Limiter, url)
        await self.schedules.attach(url)
        self.breakers = await asyncio.to_thread(BreakerBook, url)
        try:
            await self.memories.moved(url)
        except MemoryStoreError as exc:
            raise EngineError(f"the memory stores cannot move to {url}: {exc}", 503) from None

    # -- tasks ------------------------------------------------------------------------------

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
        """Record and publish a task; it is accepted once JetStream has stored it. ``caller``
        is who asked (a token's subject over A2A, ``operator`` through the control API), and
        ``channel`` how (``api``, ``a2a``): both are audited with the task."""
        if f"agent.{agent}" not in self.resources:
            known = ", ".join(sorted(self.groups)) or "none"
            raise EngineError(f"no agent named {agent!r} runs here (agents: {known})", 404)
        if self.store is None or self.nc is None:
            raise EngineError("the runtime is not set up; run 'agentform apply' first", 409)
        store = self.store
        # the agent's content filters first: what they block or redact is kept nowhere
        screened = screening.screen_input(self.resources, self.agent(agent), agent, text)
        if screened is not None:
            text = str(screened.value)
        task, _ = await store.create_task_batched(
            id=task_id or new_id(),
            agent=agent,
            input=text,
            context_id=context_id,
            inputs=inputs,
            caller=caller,
            channel=channel,
            filtered=screened.record() if screened is not None else (),
        )
        if screened is not None and screened.blocked is not None:
            return await screening.reject(store, task, screened)
        message = TaskMessage(
            task.id,
            agent,
            text,
            task.context_id,
            task.inputs,
            task.parent_id,
            recorded=True,
            caller=task.caller,
        )
        try:
            await bus.publish_task(self.nc.jetstream(), self.layout, message)
        except Exception as exc:
            raise EngineError(
                f"the bus did not accept task {task.id} ({exc or type(exc).__name__}); it is"
                " recorded but not queued: send it again with the same --id",
                503,
            ) from exc
        return task
