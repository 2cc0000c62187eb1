"""Addresses: ``kind.name``, the one way to name a resource (``agent.triage``, ``tool.kb``).

Owns the mapping between spec sections (``agents:``) and resource kinds (``agent``), parsing and
printing addresses, and naming the resource a spec path belongs to. Used by diagnostics,
the graph and (later) plans and state.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentform.contract.address import Address

__all__ = ["KIND_OF_SECTION", "SECTION_OF_KIND", "Address", "address_of_path", "format_path"]

KIND_OF_SECTION = {
    "agents": "agent",
    "tools": "tool",
    "models": "model",
    "memory": "memory",
    "policies": "policy",
    "schedules": "schedule",
    "variables": "variable",
    "environments": "environment",
}
SECTION_OF_KIND = {kind: section for section, kind in KIND_OF_SECTION.items()}


def address_of_path(path: Sequence[str | int]) -> str | None:
    """The address owning a spec path: ``("agents", "x", "tools", 0)`` → ``"agent.x"``."""
    if len(path) >= 2 and path[0] in KIND_OF_SECTION:
        return f"{KIND_OF_SECTION[str(path[0])]}.{path[1]}"
    if len(path) >= 3 and path[0] == "access" and path[1] == "roles":
        return f"role.{path[2]}"
    return None


def format_path(path: Sequence[str | int]) -> str:
    """``("agents", "x", "tools", 0)`` → ``agents.x.tools[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(root)"
