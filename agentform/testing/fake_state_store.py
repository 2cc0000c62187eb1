"""The fake state store: every serial of one (project, environment) in memory, and its lock.

:class:`FakeStateStore` implements :class:`agentform.state.StateStore` without a database, so
workflow, apply and CLI-free tests can plan and apply against it; ``tests/state/test_protocol.py``
holds it to the same promises as the SQL store (serials follow one another, lineage is kept, a
stale write is refused, the lock is held by one holder at a time). Snapshots are stored as JSON,
as the SQL store stores them, so what a test reads back has crossed the same byte boundary.
:meth:`FakeStateStore.open` stands in for :func:`agentform.state.open_store`; ``fail_next_write``
makes the next write raise.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from agentform.state import (
    HistoryEntry,
    LineageMismatch,
    LockInfo,
    LockNotFound,
    SerialNotFound,
    StateConflict,
    StateError,
    StateLocked,
    StateSnapshot,
    StateStore,
)
from agentform.state.protocol import check_next

__all__ = ["FakeStateStore"]


class FakeStateStore:
    """An in-memory state store for one project and environment."""

    def __init__(self, project: str = "demo", environment: str = "default") -> None:
        self.project = project
        self.environment = environment
        self.writes = 0  # successful writes, for tests that count them
        self._bodies: dict[int, str] = {}
        self._history: list[HistoryEntry] = []
        self._held: LockInfo | None = None
        self._faults: deque[StateError] = deque()
        # apply writes from its worker threads (one at a time) while the caller may read
        self._mutex = threading.Lock()

    @property
    def url(self) -> str:
        return f"memory://{self.project}/{self.environment}"

    def open(
        self, url: str | None, project: str, environment: str, base_dir: str | Path
    ) -> FakeStateStore:
        """Stand in for :func:`~agentform.state.open_store`: every open gets this store, whose
        serials outlive ``close`` as a database's would. ``url`` and ``base_dir`` are ignored."""
        if (project, environment) != (self.project, self.environment):
            raise ValueError(
                f"this fake holds project {self.project!r} environment {self.environment!r}, "
                f"not {project!r} {environment!r}; make one with those names"
            )
        return self

    def close(self) -> None:
        """Nothing to release: the serials stay, as they would in a database."""

    def __enter__(self) -> FakeStateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- serials ----------------------------------------------------------------------------

    def read(self) -> StateSnapshot | None:
        with self._mutex:
            body = self._bodies[max(self._bodies)] if self._bodies else None
        return None if body is None else StateSnapshot.model_validate_json(body)

    def read_serial(self, serial: int) -> StateSnapshot:
        with self._mutex:
            body = self._bodies.get(serial)
        if body is None:
            raise SerialNotFound(serial, self.project, self.environment)
        return StateSnapshot.model_validate_json(body)

    def history(self) -> list[HistoryEntry]:
        with self._mutex:
            return list(self._history)

    def write(
        self,
        snapshot: StateSnapshot,
        expected_serial: int,
        changed: Collection[str] | None = None,
    ) -> None:
        # ``changed`` only saves the SQL store work; a full copy costs nothing here
        check_next(self, snapshot, expected_serial)
        with self._mutex:
            if self._faults:
                raise self._faults.popleft()
            latest = max(self._bodies, default=0)
            if latest != expected_serial:
                raise StateConflict(expected_serial, latest)
            if latest:
                lineage = StateSnapshot.model_validate_json(self._bodies[latest]).lineage
                if lineage != snapshot.lineage:
                    raise LineageMismatch(
                        f"the snapshot has lineage {snapshot.lineage} and the recorded state "
                        f"has lineage {lineage}",
                        self,
                    )
            self._bodies[snapshot.serial] = snapshot.model_dump_json()
            entry = HistoryEntry(snapshot.serial, datetime.now(UTC), snapshot.summary())
            self._history.append(entry)
            self.writes += 1

    # -- lock -------------------------------------------------------------------------------

    @contextmanager
    def lock(self, operation: str) -> Iterator[LockInfo]:
        info = LockInfo.for_this_process(operation)
        with self._mutex:
            if self._held is not None:
                raise StateLocked(self._held)
            self._held = info
        try:
            yield info
        finally:
            with self._mutex:
                if self._held == info:  # unless force_unlock took it meanwhile
                    self._held = None

    def current_lock(self) -> LockInfo | None:
        with self._mutex:
            return self._held

    def force_unlock(self, lock_id: str) -> LockInfo:
        with self._mutex:
            current = self._held
            if current is None or current.id != lock_id:
                raise LockNotFound(lock_id, current)
            self._held = None
            return current

    # -- test controls ----------------------------------------------------------------------

    def fail_next_write(self, error: StateError) -> None:
        """Make the next write raise ``error`` (nothing is written), e.g. a lost connection."""
        self._faults.append(error)


# the protocol is structural: this makes mypy hold the fake to it
_CONFORMS: type[StateStore] = FakeStateStore
