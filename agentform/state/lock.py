"""State locks: who holds one, the error naming them, and when a holder is known to be gone.

This module owns :class:`LockInfo` (owner, host, pid, operation, since: what a lock row records
and what error messages show), :class:`StateLocked` (raised at once, never after waiting, when
someone else holds the lock), :class:`LockNotFound`, and the backend-neutral rules for deciding
that a holder is gone (:func:`is_stale`) and for naming a (project, environment) as a PostgreSQL
advisory-lock key (:func:`advisory_key`). It does no database I/O: acquiring and releasing are
done by :class:`agentform.state.store.SqlStateStore` (and the test fake), which call this
module. The CLI shows the messages as they are.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agentform.state.snapshot import StateError

__all__ = [
    "LockInfo",
    "LockNotFound",
    "StateLocked",
    "advisory_key",
    "is_stale",
    "pid_alive",
]


@dataclass(frozen=True)
class LockInfo:
    """Who holds (or held) the state lock, and for what."""

    id: str
    owner: str
    host: str
    pid: int
    operation: str
    since: datetime

    @classmethod
    def for_this_process(cls, operation: str) -> LockInfo:
        """A new lock record naming the current user, host and process."""
        return cls(
            id=str(uuid.uuid4()),
            owner=_user(),
            host=socket.gethostname(),
            pid=os.getpid(),
            operation=operation,
            since=datetime.now(UTC).replace(microsecond=0),
        )

    def describe(self) -> str:
        """``alice@host (pid 123, apply) since 2026-11-24 20:00 UTC``."""
        when = self.since.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return f"{self.owner}@{self.host} (pid {self.pid}, {self.operation}) since {when}"


class StateLocked(StateError):
    """Someone else holds the lock; raised at once, nothing was read or written."""

    def __init__(self, holder: LockInfo | None) -> None:
        self.holder = holder
        if holder is None:
            # PostgreSQL: the advisory lock is held but its row was removed (force-unlock of a
            # session that is still ending)
            message = (
                "state is locked by a database session that left no record of who it is; "
                "try again in a moment"
            )
        else:
            message = (
                f"state is locked by {holder.describe()}; wait for it to finish, or if that "
                f'process is gone run "agentform force-unlock {holder.id}"'
            )
        super().__init__(message)


class LockNotFound(StateError):
    """``force_unlock`` was given an id that is not the current lock."""

    def __init__(self, lock_id: str, current: LockInfo | None) -> None:
        self.lock_id = lock_id
        if current is None:
            message = f"no lock {lock_id} to release: the state is not locked; nothing was changed"
        else:
            message = (
                f"lock {lock_id} is not the current lock; the state is locked by "
                f"{current.describe()} with id {current.id}; nothing was changed"
            )
        super().__init__(message)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host and is not a zombie."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        # an unreaped killed child still answers kill(0): it is gone all the same
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def is_stale(holder: LockInfo, expires_at: datetime, now: datetime) -> bool:
    """Whether a lock row may be taken over (the SQLite rule; PostgreSQL asks the server).

    On this host the holder's pid decides: a live holder keeps its lock however long it takes.
    A holder on another host cannot be checked, so its lock lapses at ``expires_at``, which the
    holder pushes forward on every state write.
    """
    if holder.host == socket.gethostname():
        return not pid_alive(holder.pid)
    return now >= expires_at


def advisory_key(project: str, environment: str) -> int:
    """A signed 64-bit key for ``pg_try_advisory_lock``, stable for one (project, environment)."""
    digest = hashlib.sha256(f"agentform-state:{project}/{environment}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER") or f"uid{os.getuid()}"
