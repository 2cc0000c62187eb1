"""Addresses: ``kind.name``, the one way to name a resource (``agent.triage``, ``tool.kb``).

Owns the mapping between spec sections (``agents:``) and resource kinds (``agent``), parsing and
printing addresses (:class:`Address`, the only place an address is split), and naming the resource
a spec path belongs to. Used by diagnostics, the graph, plans, state, the contract and the
runtime (it is pure: the runtime may import it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["KIND_OF_SECTION", "SECTION_OF_KIND", "Address", "address_of_path", "format_path"]

KIND_OF_SECTION = {
    "agents": "agent",
    "tools": "tool",
    "models": "model",
    "memory": "memory",
    "policies": "policy",
    "filters": "filter",
    "schedules": "schedule",
    "variables": "variable",
    "environments": "environment",
}
SECTION_OF_KIND = {kind: section for section, kind in KIND_OF_SECTION.items()}


@dataclass(frozen=True, slots=True, order=True)
class Address:
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}.{self.name}"

    @classmethod
    def parse(cls, text: str) -> Address:
        """``"agent.triage"`` → ``Address("agent", "triage")``; ValueError for anything else."""
        kind, sep, name = text.partition(".")
        if not sep or not kind or not name:
            raise ValueError(f"invalid address {text!r}: expected KIND.NAME, e.g. agent.triage")
        return cls(kind, name)

    @classmethod
    def of(cls, kind: str, name: str) -> str:
        """The text of the address ``kind.name``."""
        return f"{kind}.{name}"

    @staticmethod
    def parts(text: str) -> tuple[str, str]:
        """``"agent.triage"`` → ``("agent", "triage")``, unchecked (``("x", "")`` for ``"x"``)."""
        kind, _, name = text.partition(".")
        return kind, name

    @staticmethod
    def kind_of(text: str) -> str:
        """The kind of an address written as text (``"agent.triage"`` → ``"agent"``)."""
        return text.partition(".")[0]

    @staticmethod
    def name_of(text: str) -> str:
        """The name of an address written as text (``"agent.triage"`` → ``"triage"``)."""
        return text.partition(".")[2]


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
