"""Tools an agent calls: MCP servers, outside A2A agents, and the locks some calls run under.

Owns what the agent loop (:mod:`agentform.runtime.worker.loop`) needs of a toolbox,
:class:`ToolboxLike` and :class:`ToolResultLike`, and the modules that provide one:
:mod:`.toolbox` (MCP servers and outside agents behind one interface), :mod:`.mcp_client` (the
``mcp`` SDK's sessions), :mod:`.remote_agent` (an outside agent over A2A), :mod:`.locking`
(calls under a named lease) and :mod:`.agent_toolbox` (what one agent's worker gets). The
protocols live here, light, so the loop never imports the MCP SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from agentform.runtime.conversation import ToolSpec

__all__ = ["ToolResultLike", "ToolboxLike"]


class ToolResultLike(Protocol):
    """A call's result. A result may also say ``unknown=True`` (an unsafe call that got no
    answer: :class:`~agentform.runtime.tools.toolbox.ToolResult`); the loop reads it with
    ``getattr``, the other toolboxes never have one."""

    @property
    def content(self) -> str: ...

    @property
    def is_error(self) -> bool: ...


class ToolboxLike(Protocol):
    def specs(self) -> list[ToolSpec]: ...

    def side_effects(self, name: str) -> str: ...

    def owner(self, name: str) -> str | None: ...

    async def call(
        self, name: str, arguments: Mapping[str, Any], *, idempotency_key: str
    ) -> ToolResultLike: ...
