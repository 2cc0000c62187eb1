"""What a memory request returns or raises: entries, search hits and the store's errors.

Shared by the service (:mod:`.service`), the tools, the admin functions and the CLI; an
:class:`Entry` is built from a row of ``agentform_memory_items`` by :func:`entry_from_row`
(``COLUMNS``: every column but the embedding, which stays in the database).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentform.runtime.store.memory.tables import items_table

__all__ = [
    "COLUMNS",
    "Entry",
    "Hit",
    "MemoryDenied",
    "MemoryFull",
    "MemoryStoreError",
    "VersionConflict",
    "entry_from_row",
]


class MemoryStoreError(Exception):
    """A memory request that cannot be done; the message says why and what to do."""


class MemoryDenied(MemoryStoreError):
    """The agent may not read or write this store (recorded in ``agentform_memory_denials``)."""


class MemoryFull(MemoryStoreError):
    """The entry is too large, or the scope key holds all the store's caps allow."""


class VersionConflict(MemoryStoreError):
    """A compare-and-set lost: someone wrote the key since the version the writer read."""

    def __init__(self, message: str, current: Entry | None) -> None:
        super().__init__(message)
        self.current = current


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    store: str
    kind: str
    scope: str
    key: str | None
    agent: str | None
    role: str | None
    text: str
    value: Any
    version: int
    bytes: int
    created_at: float
    updated_at: float
    expires_at: float | None
    meta: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "store": self.store,
            "kind": self.kind,
            "scope": self.scope,
            "key": self.key,
            "agent": self.agent,
            "role": self.role,
            "text": self.text,
            "value": self.value,
            "version": self.version,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "expires_at": self.expires_at,
            "meta": dict(self.meta),
        }


@dataclass(frozen=True, slots=True)
class Hit:
    entry: Entry
    score: float


def entry_from_row(row: Any) -> Entry:
    m = row._mapping
    return Entry(
        id=int(m["id"]),
        store=m["store"],
        kind=m["kind"],
        scope=m["scope"],
        key=m["key"],
        agent=m["agent"],
        role=m["role"],
        text=m["text"],
        value=json.loads(m["value"]) if m["value"] is not None else None,
        version=int(m["version"]),
        bytes=int(m["bytes"]),
        created_at=float(m["created_at"]),
        updated_at=float(m["updated_at"]),
        expires_at=float(m["expires_at"]) if m["expires_at"] is not None else None,
        meta=json.loads(m["meta"]) if m["meta"] else {},
    )


COLUMNS = [c for c in items_table.c if c.name != "embedding"]  # vectors stay in the database
