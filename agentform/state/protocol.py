"""The state store protocol: what planning, apply and the CLI may ask of any state store.

This module owns :class:`StateStore` (a structural ``Protocol``), :class:`HistoryEntry` and the
errors every implementation raises for the same situations: :class:`StateConflict` (a stale
compare-and-set write), :class:`LineageMismatch` (a snapshot from another state) and
:class:`SerialNotFound`. Implementations: :class:`agentform.state.store.SqlStateStore` (SQLite
or PostgreSQL, what :func:`agentform.state.open_store` returns) and
:class:`agentform.testing.FakeStateStore` (in memory, for tests). Callers are the plan/apply
pipeline (:mod:`agentform.workflow`, :mod:`agentform.apply`) and the CLI's ``state`` commands.
No I/O here.

What every store promises (``tests/state/test_protocol.py`` checks both):

* ``read`` gives the latest serial or ``None``; ``read_serial`` any earlier one, unchanged;
* ``write`` stores serial ``expected_serial + 1`` only if the latest serial is still
  ``expected_serial`` and the lineage is the latest one's; otherwise nothing is written;
* ``history`` lists every serial, oldest first; nothing is ever overwritten;
* ``lock`` is held by one holder at a time and refused at once (never waited for) while held;
  ``force_unlock`` frees a lock whose holder is gone.

Errors::

    StateError                  (snapshot.py) root; every message says what to do
     ├── StateCorrupt           (snapshot.py) a stored body does not parse; nothing changed
     ├── StateConflict          a write was based on a serial that is no longer the latest
     ├── LineageMismatch        a write or a snapshot belongs to another state
     ├── SerialNotFound         read_serial was given a serial that was never written
     ├── StateLocked            (lock.py) someone else holds the lock, raised at once
     └── LockNotFound           (lock.py) force_unlock was given an id that is not the lock
"""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AbstractContextManager
from datetime import datetime
from typing import NamedTuple, Protocol, Self

from agentform.state.lock import LockInfo
from agentform.state.snapshot import StateError, StateSnapshot

__all__ = [
    "HistoryEntry",
    "LineageMismatch",
    "SerialNotFound",
    "StateConflict",
    "StateStore",
    "check_next",
]


class HistoryEntry(NamedTuple):
    """One stored serial, as ``history`` lists it (read from columns, so corrupt bodies show)."""

    serial: int
    written_at: datetime
    summary: str


class StateStore(Protocol):
    """Every serial of one (project, environment), and its lock. Close it (or use ``with``)."""

    project: str
    environment: str

    @property
    def url(self) -> str:
        """Where the state is kept, for messages (any password hidden)."""
        ...

    def read(self) -> StateSnapshot | None:
        """The latest serial, or ``None`` when nothing was ever written."""
        ...

    def read_serial(self, serial: int) -> StateSnapshot:
        """A given serial from history; :class:`SerialNotFound` if it was never written."""
        ...

    def history(self) -> list[HistoryEntry]:
        """Every stored serial, oldest first."""
        ...

    def write(
        self,
        snapshot: StateSnapshot,
        expected_serial: int,
        changed: Collection[str] | None = None,
    ) -> None:
        """Store ``snapshot`` if the latest serial is still ``expected_serial`` (0: none yet).

        ``snapshot.serial`` must be ``expected_serial + 1`` (else ``ValueError``). Raises
        :class:`StateConflict` when another write came first and :class:`LineageMismatch` when
        the snapshot belongs to another state; nothing is written then. ``changed`` may name the
        only addresses that differ from the previous serial: a hint a store may use to write
        less, never a different result.
        """
        ...

    def lock(self, operation: str) -> AbstractContextManager[LockInfo]:
        """Hold the state lock for ``operation``; raise :class:`StateLocked` at once if held."""
        ...

    def current_lock(self) -> LockInfo | None:
        """Who holds the lock, if anyone."""
        ...

    def force_unlock(self, lock_id: str) -> LockInfo:
        """Release lock ``lock_id`` whoever holds it; return who held it
        (:class:`LockNotFound` when it is not the current lock)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


class StateConflict(StateError):
    """The write expected a latest serial that is no longer the latest; nothing was written."""

    def __init__(self, expected: int, latest: int) -> None:
        self.expected = expected
        self.latest = latest
        super().__init__(
            f"this write was based on state serial {expected}, but state is now {latest}: "
            'another run changed it meanwhile; nothing was written. Run "agentform plan" again.'
        )


class LineageMismatch(StateError):
    """The snapshot belongs to another state (another project, or a re-created state)."""

    def __init__(self, what: str, store: StateStore) -> None:
        super().__init__(
            f"{what}, but this store holds project {store.project!r} environment "
            f"{store.environment!r} at {store.url}: the snapshot comes from another state; "
            "nothing was written. Check the project, --env and --state-url; retrying will not help."
        )


class SerialNotFound(StateError):
    """``read_serial`` was asked for a serial that was never written."""

    def __init__(self, serial: int, project: str, environment: str) -> None:
        self.serial = serial
        super().__init__(
            f"there is no state serial {serial} for project {project!r} environment"
            f' {environment!r}; run "agentform state history" to list the serials'
        )


def check_next(store: StateStore, snapshot: StateSnapshot, expected_serial: int) -> None:
    """What every store checks before a write: the snapshot is this store's state
    (:class:`LineageMismatch`) and follows ``expected_serial`` (ValueError: a caller's bug)."""
    if (snapshot.project, snapshot.environment) != (store.project, store.environment):
        raise LineageMismatch(
            f"the snapshot is for project {snapshot.project!r} environment "
            f"{snapshot.environment!r}",
            store,
        )
    if snapshot.serial != expected_serial + 1:
        raise ValueError(
            f"snapshot serial {snapshot.serial} does not follow expected serial "
            f"{expected_serial}; make it with StateSnapshot.next()"
        )
