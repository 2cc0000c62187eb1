"""The tools one agent's worker gets: its MCP servers and outside agents, behind their locks.

Owns assembling them from the worker's configuration: :class:`NoTools` for an agent without tools
(so its worker never imports the MCP SDK: a faster start, which is most of the recovery time after
a crash), the :class:`~agentform.runtime.tools.toolbox.Toolbox` otherwise, and the
:class:`~agentform.runtime.tools.locking.LockedTools` wrapper when one of them declares a ``lock``.
Called by :mod:`agentform.runtime.worker.process`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentform.contract import ToolValue
from agentform.runtime.bus import JetStream
from agentform.runtime.bus.leases import Leases
from agentform.runtime.conversation import ToolSpec
from agentform.runtime.tools.locking import LockedTools

__all__ = ["NoTools", "open_toolbox", "with_locks"]


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    content: str
    is_error: bool


class NoTools:
    """The toolbox of an agent without tools."""

    def specs(self) -> list[ToolSpec]:
        return []

    def side_effects(self, name: str) -> str:
        return "unsafe"

    def owner(self, name: str) -> str | None:
        return None

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def call(
        self, name: str, arguments: Mapping[str, Any], *, idempotency_key: str
    ) -> ToolOutcome:
        return ToolOutcome(f"there is no tool {name!r}; this agent has no tools", True)


def open_toolbox(
    tools: Mapping[str, ToolValue],
    *,
    base_dir: Path,
    secret: Callable[[str], str | None],
    log: logging.Logger,
) -> Any:
    """The agent's toolbox, not started yet (``await toolbox.start()``)."""
    if not tools:
        return NoTools()
    from agentform.runtime.tools.toolbox import Toolbox

    return Toolbox(tools, base_dir=base_dir, secret=secret, log=log)


def with_locks(toolbox: Any, tools: Mapping[str, ToolValue], js: JetStream, bucket: str) -> Any:
    """``toolbox`` with each call of a tool that declares a ``lock`` made under its lease, in
    the key/value ``bucket`` (the layout's ``leases``)."""
    if not any(t.lock for t in tools.values()):
        return toolbox
    leases = Leases(js, bucket)
    return LockedTools(toolbox, tools, lambda: leases)
