"""Recording an apply's changes in state: one writer, group commit, consecutive serials.

This module owns :class:`Recorder`, through which apply records every provider mutation (a
resource made, updated or gone) by a compare-and-set write of the next state serial before the
change counts as done. Writes are made one at a time so serials stay consecutive; changes that
finish while a write is in flight share the next one. Its only I/O is through the
:class:`~agentform.state.protocol.StateStore` it is given. Called by :mod:`agentform.apply`
(from its worker threads, and for a refresh-only plan).
"""

from __future__ import annotations

import threading

from agentform.state.snapshot import RecordedResource, StateSnapshot
from agentform.state.store import StateStore

__all__ = ["Recorder"]


class Recorder:
    """The single writer, with group commit: serials stay consecutive, and a change is durable
    before :meth:`record` returns (so before anything that depends on it starts).

    Changes that finish while a write is in flight are written together by the next write:
    with ten workers, one compare-and-set carries several changes instead of ten queueing for
    ten writes of the whole snapshot. A worker whose change was in a failed write gets that
    error.
    """

    def __init__(
        self,
        store: StateStore,
        snapshot: StateSnapshot,
        spec_revision: str | None = None,
        git_commit: str | None = None,
    ) -> None:
        self._store = store
        self._revision = (spec_revision, git_commit)
        self._cond = threading.Condition()
        self._pending: list[tuple[str, RecordedResource | None]] = []
        self._queued = 0  # tickets handed out
        self._durable = 0  # tickets whose change is written
        self._writing = False
        self._error: BaseException | None = None
        self.snapshot = snapshot

    def record(self, address: str, resource: RecordedResource | None) -> None:
        with self._cond:
            self._queued += 1
            ticket = self._queued
            self._pending.append((address, resource))
            while self._durable < ticket:
                if self._error is not None:
                    raise self._error
                if self._writing:
                    self._cond.wait()
                    continue
                self._write_pending()

    def _write_pending(self) -> None:
        """Write everything queued; called with the condition held, releases it meanwhile."""
        self._writing = True
        batch, self._pending = self._pending, []
        upto, before = self._queued, self.snapshot
        resources = dict(before.resources)
        for address, resource in batch:
            if resource is None:
                resources.pop(address, None)
            else:
                resources[address] = resource
        new = before.next(resources, spec_revision=self._revision[0], git_commit=self._revision[1])
        self._cond.release()
        try:
            self._store.write(new, expected_serial=before.serial, changed=[a for a, _ in batch])
        except BaseException as exc:
            self._cond.acquire()
            self._error = exc
            self._writing = False
            self._cond.notify_all()
            raise
        self._cond.acquire()
        self.snapshot = new
        self._durable = upto
        self._writing = False
        self._cond.notify_all()
