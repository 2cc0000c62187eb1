"""Addresses: ``kind.name``, the one way to name a resource (``agent.triage``, ``tool.kb``).

Owns :class:`Address`, parsed and printed here and nowhere else; planning
(:mod:`agentform.addresses`, which re-exports it) and the runtime share it. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Address"]


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
    def kind_of(text: str) -> str:
        """The kind of an address written as text (``"agent.triage"`` → ``"agent"``)."""
        return text.partition(".")[0]

    @staticmethod
    def name_of(text: str) -> str:
        """The name of an address written as text (``"agent.triage"`` → ``"triage"``)."""
        return text.partition(".")[2]
