"""Recorded state: every serial of what apply made, for one project and environment, and its lock.

* :mod:`agentform.state.snapshot`: the format (``StateSnapshot``), serial/lineage rules,
  ``StateError`` and ``StateCorrupt`` (secret fingerprints live in :mod:`agentform.secrets`);
* :mod:`agentform.state.protocol`: ``StateStore``, the protocol every store implements, and the
  errors it promises (``StateConflict``, ``LineageMismatch``, ``SerialNotFound``);
* :mod:`agentform.state.lock`: ``LockInfo``, ``StateLocked`` and when a holder is gone;
* :mod:`agentform.state.store`: ``SqlStateStore`` over SQLite or PostgreSQL, and ``open_store``.

The error tree is drawn in :mod:`agentform.state.protocol`; an in-memory store for tests is
:class:`agentform.testing.FakeStateStore`. This package does no printing; it is called by the
plan/apply workflow (:mod:`agentform.workflow`) and the CLI. See ``docs/state.md``.
"""

from __future__ import annotations

from agentform.state.lock import LockInfo, LockNotFound, StateLocked
from agentform.state.protocol import (
    HistoryEntry,
    LineageMismatch,
    SerialNotFound,
    StateConflict,
    StateStore,
)
from agentform.state.snapshot import (
    FORMAT_VERSION,
    RecordedResource,
    StateCorrupt,
    StateError,
    StateSnapshot,
    empty,
)
from agentform.state.store import DEFAULT_LOCK_TTL, SqlStateStore, open_store

__all__ = [
    "DEFAULT_LOCK_TTL",
    "FORMAT_VERSION",
    "HistoryEntry",
    "LineageMismatch",
    "LockInfo",
    "LockNotFound",
    "RecordedResource",
    "SerialNotFound",
    "SqlStateStore",
    "StateConflict",
    "StateCorrupt",
    "StateError",
    "StateLocked",
    "StateSnapshot",
    "StateStore",
    "empty",
    "open_store",
]
