"""Tool calls under a named lock: a tool with ``lock`` runs one call at a time per lock name.

A tool may declare ``lock: "order-{{ arguments.order_id }}"``: the name is rendered from each
call's arguments in the sandbox of :mod:`agentform.expressions`, and the call runs while holding
the lease of that name (:mod:`agentform.runtime.bus.leases`), so two agents (or two replicas)
refunding
the same order take turns, while calls for different orders run in parallel. A holder that dies
stops renewing, and the lease is taken over when it expires. A call that cannot get its lock
within the tool's timeout comes back to the model as an error, like any tool failure.

This module owns :class:`LockedTools`, a toolbox wrapper; the worker puts it around the agent's
toolbox when one of its tools declares a lock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agentform.contract import ToolValue
from agentform.expressions import TemplateError, safe_environment
from agentform.runtime.bus.leases import LeaseBusy, Leases
from agentform.runtime.conversation import ToolSpec
from agentform.runtime.tools import ToolboxLike, ToolResultLike

__all__ = ["LockedTools"]

LEASE_TTL = 10.0


@dataclass(frozen=True, slots=True)
class LockResult:
    content: str
    is_error: bool


class LockedTools:
    """``inner`` with each call of a locking tool made under its lease."""

    def __init__(
        self,
        inner: ToolboxLike,
        tools: Mapping[str, ToolValue],
        leases: Callable[[], Leases | None],
    ) -> None:
        self.inner = inner
        self.tools = tools
        self.leases = leases

    def specs(self) -> list[ToolSpec]:
        return self.inner.specs()

    def side_effects(self, name: str) -> str:
        return self.inner.side_effects(name)

    def owner(self, name: str) -> str | None:
        return self.inner.owner(name)

    async def call(
        self, name: str, arguments: Mapping[str, Any], *, idempotency_key: str
    ) -> ToolResultLike:
        owner = self.inner.owner(name)
        value = self.tools.get(owner or "")
        template = value.lock if value is not None else None
        if value is None or not template:
            return await self.inner.call(name, arguments, idempotency_key=idempotency_key)
        try:
            lock = safe_environment().from_string(template).render(arguments=dict(arguments))
        except (TemplateError, TypeError, ValueError) as exc:
            return LockResult(
                f"the lock of tool {owner!r} could not be named from these arguments ({exc});"
                " call it with the arguments its lock needs",
                True,
            )
        leases = self.leases()
        if leases is None:
            return LockResult(f"the lock {lock!r} cannot be taken: the bus is unavailable", True)
        wait = value.timeout.total_seconds() if value.timeout else 60.0
        try:
            async with leases.hold(
                f"tool/{owner}/{lock}", idempotency_key, ttl=LEASE_TTL, wait=wait
            ):
                return await self.inner.call(name, arguments, idempotency_key=idempotency_key)
        except LeaseBusy as exc:
            return LockResult(f"{exc}; try again later", True)
