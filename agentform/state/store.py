"""The SQL state store: every serial of one (project, environment), and its lock, in a database.

This module owns :class:`SqlStateStore`, the implementation of the
:class:`~agentform.state.protocol.StateStore` protocol over SQLite or PostgreSQL, and
:func:`open_store`: reading and compare-and-set writing of serials, history, and taking,
releasing and breaking the lock on each backend. It and :mod:`.tables` (the schema and the
engine) are the only modules that talk to the database, through SQLAlchemy. Called by the
plan/apply workflow (``read``, ``write``, ``lock``) and by the CLI's ``state`` and
``force-unlock`` commands (``history``, ``read_serial``, ``force_unlock``). The errors it raises
are the protocol's; the tree is drawn in :mod:`agentform.state.protocol`.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, delete, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from agentform.state.lock import LockInfo, LockNotFound, StateLocked, advisory_key, is_stale
from agentform.state.protocol import (
    HistoryEntry,
    LineageMismatch,
    SerialNotFound,
    StateConflict,
    StateStore,
    check_next,
)
from agentform.state.rows import HEAD, resources_at, write_rows
from agentform.state.snapshot import (
    ROW_LAYOUT,
    StateCorrupt,
    StateError,
    StateSnapshot,
    parse_body,
)
from agentform.state.tables import connect, lock_table, state_table, utc

__all__ = [
    "DEFAULT_LOCK_TTL",
    "SqlStateStore",
    "StateStore",  # the protocol, re-exported: agentform.apply imports it from here
    "open_store",
]

DEFAULT_LOCK_TTL = timedelta(minutes=15)


class SqlStateStore:
    """Every serial of one (project, environment), and its lock. Close it (or use ``with``)."""

    def __init__(
        self,
        engine: Engine,
        project: str,
        environment: str,
        *,
        lock_ttl: timedelta = DEFAULT_LOCK_TTL,
    ) -> None:
        self.project = project
        self.environment = environment
        self.lock_ttl = lock_ttl
        self._engine = engine
        self._held: LockInfo | None = None

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> SqlStateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- serials ----------------------------------------------------------------------------

    def read(self) -> StateSnapshot | None:
        """The latest serial, or ``None`` when nothing was ever written."""
        with self._engine.connect() as conn:
            row = conn.execute(
                self._rows().order_by(state_table.c.serial.desc()).limit(1)
            ).one_or_none()
            return None if row is None else self._parse(row, conn, latest=True)

    def read_serial(self, serial: int) -> StateSnapshot:
        """A given serial from history."""
        with self._engine.connect() as conn:
            row = conn.execute(self._rows().where(state_table.c.serial == serial)).one_or_none()
            if row is None:
                raise SerialNotFound(serial, self.project, self.environment)
            return self._parse(row, conn, latest=False)

    def history(self) -> list[HistoryEntry]:
        """Every stored serial, oldest first."""
        query = (
            select(state_table.c.serial, state_table.c.written_at, state_table.c.summary)
            .where(*self._where(state_table))
            .order_by(state_table.c.serial)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [HistoryEntry(r.serial, utc(r.written_at), r.summary) for r in rows]

    def write(
        self,
        snapshot: StateSnapshot,
        expected_serial: int,
        changed: Collection[str] | None = None,
    ) -> None:
        """Store ``snapshot`` if the latest serial is still ``expected_serial`` (0: none yet).

        ``snapshot.serial`` must be ``expected_serial + 1`` (use :meth:`StateSnapshot.next`).
        Old serials are never changed, so a failed write loses nothing. ``changed`` may name the
        only addresses that differ from the previous serial (apply knows them): the write then
        costs those resources, not all of them.
        """
        check_next(self, snapshot, expected_serial)
        now = datetime.now(UTC)
        try:
            with self._engine.begin() as conn:
                head = conn.execute(HEAD, self._key).one_or_none()
                latest = 0 if head is None else int(head.serial)
                if latest != expected_serial:
                    raise StateConflict(expected_serial, latest)
                if head is not None and head.lineage != snapshot.lineage:
                    raise LineageMismatch(
                        f"the snapshot has lineage {snapshot.lineage} and the recorded state "
                        f"has lineage {head.lineage}",
                        self,
                    )
                rows_hold_head = head is not None and _layout(head.body) == ROW_LAYOUT
                write_rows(conn, self._key, snapshot, changed if rows_hold_head else None)
                body = snapshot.model_copy(update={"version": ROW_LAYOUT, "resources": {}})
                conn.execute(
                    insert(state_table),
                    {
                        "project": self.project,
                        "environment": self.environment,
                        "serial": snapshot.serial,
                        "lineage": snapshot.lineage,
                        "written_at": now,
                        "summary": snapshot.summary(),
                        "body": body.model_dump_json(),
                    },
                )
                if self._held is not None:
                    # a holder that keeps writing keeps its lock: the expiry only frees locks
                    # whose holder went quiet on another host
                    conn.execute(
                        update(lock_table)
                        .where(lock_table.c.id == self._held.id)
                        .values(expires_at=now + self.lock_ttl)
                    )
        except IntegrityError:
            # another writer inserted the same serial between our read and our insert
            raise StateConflict(expected_serial, snapshot.serial) from None

    # -- lock -------------------------------------------------------------------------------

    @contextmanager
    def lock(self, operation: str) -> Iterator[LockInfo]:
        """Hold the state lock for ``operation``; raise :class:`StateLocked` at once if held."""
        info = LockInfo.for_this_process(operation)
        if self.backend == "postgresql":
            session = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                self._acquire_advisory(session, info)
            except BaseException:
                session.close()
                raise
        else:
            session = None
            self._acquire_row(info)
        self._held = info
        try:
            yield info
        finally:
            self._held = None
            self._release(info, session)

    def current_lock(self) -> LockInfo | None:
        """Who holds the lock according to the lock row (which may be stale), if anyone."""
        with self._engine.connect() as conn:
            row = self._lock_row(conn)
        return None if row is None else _lock_info(row)

    def force_unlock(self, lock_id: str) -> LockInfo:
        """Release lock ``lock_id`` whoever holds it; return who held it.

        On PostgreSQL the holder's database session is terminated, since only the session that
        took an advisory lock can release it.
        """
        current = self.current_lock()
        if current is None or current.id != lock_id:
            raise LockNotFound(lock_id, current)
        if self.backend == "postgresql":
            self._terminate_advisory_holder()
        with self._engine.begin() as conn:
            conn.execute(delete(lock_table).where(lock_table.c.id == lock_id))
        return current

    # -- internals --------------------------------------------------------------------------

    def _acquire_row(self, info: LockInfo) -> None:
        """SQLite: insert the lock row, taking over a row whose holder is gone."""
        with self._engine.begin() as conn:
            row = self._lock_row(conn)
            if row is not None:
                if not is_stale(_lock_info(row), utc(row.expires_at), datetime.now(UTC)):
                    raise StateLocked(_lock_info(row))
                conn.execute(delete(lock_table).where(lock_table.c.id == row.id))
            conn.execute(insert(lock_table).values(**self._lock_values(info)))

    def _acquire_advisory(self, session: Connection, info: LockInfo) -> None:
        """PostgreSQL: the advisory lock decides; the row only tells others who holds it."""
        with self._engine.begin() as conn:
            # taking (or giving up) the lock and writing its row happen under a short
            # transaction lock, so a loser never sees the lock held without its holder's row
            self._row_guard(conn)
            got = session.scalar(
                text("SELECT pg_try_advisory_lock(CAST(:k AS BIGINT))"),
                {"k": advisory_key(self.project, self.environment)},
            )
            row = self._lock_row(conn)
            if not got:
                raise StateLocked(None if row is None else _lock_info(row))
            # a row left here belongs to a holder whose session ended without cleaning up
            conn.execute(delete(lock_table).where(*self._where(lock_table)))
            conn.execute(insert(lock_table).values(**self._lock_values(info)))

    def _release(self, info: LockInfo, session: Connection | None) -> None:
        try:
            with self._engine.begin() as conn:
                if session is not None:
                    self._row_guard(conn)
                conn.execute(delete(lock_table).where(lock_table.c.id == info.id))
                if session is not None:
                    # a session ended by force-unlock fails here; the server released its lock
                    with suppress(DBAPIError):
                        session.execute(
                            text("SELECT pg_advisory_unlock(CAST(:k AS BIGINT))"),
                            {"k": advisory_key(self.project, self.environment)},
                        )
        finally:
            if session is not None:
                session.close()

    def _row_guard(self, conn: Connection) -> None:
        key = advisory_key(self.project, f"{self.environment}:lock-row")
        conn.execute(text("SELECT pg_advisory_xact_lock(CAST(:k AS BIGINT))"), {"k": key})

    def _terminate_advisory_holder(self) -> None:
        key = advisory_key(self.project, self.environment) & 0xFFFFFFFFFFFFFFFF
        holders = text(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid::bigint = :hi AND objid::bigint = :lo AND objsubid = 1"
        )
        params = {"hi": key >> 32, "lo": key & 0xFFFFFFFF}
        with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            try:
                for pid in conn.scalars(holders, params).all():
                    conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            except DBAPIError as exc:
                raise StateError(
                    f"could not end the session holding the state lock ({exc.orig}); ask a "
                    "database administrator to run pg_terminate_backend on it"
                ) from None
            deadline = time.monotonic() + 5
            while conn.scalars(holders, params).first() is not None:
                if time.monotonic() > deadline:
                    raise StateError(
                        "the session holding the state lock did not end within 5 seconds; "
                        "try force-unlock again"
                    )
                time.sleep(0.05)

    def _lock_values(self, info: LockInfo) -> dict[str, Any]:
        return {
            "project": self.project,
            "environment": self.environment,
            "id": info.id,
            "owner": info.owner,
            "host": info.host,
            "pid": info.pid,
            "operation": info.operation,
            "since": info.since,
            "expires_at": info.since + self.lock_ttl,
        }

    def _lock_row(self, conn: Connection) -> Any:
        return conn.execute(select(lock_table).where(*self._where(lock_table))).one_or_none()

    def _rows(self) -> Any:
        return select(state_table).where(*self._where(state_table))

    @property
    def _key(self) -> dict[str, str]:
        return {"b_project": self.project, "b_environment": self.environment}

    def _where(self, table: Table) -> tuple[Any, ...]:
        return (table.c.project == self.project, table.c.environment == self.environment)

    def _parse(self, row: Any, conn: Connection, *, latest: bool) -> StateSnapshot:
        snapshot = parse_body(row.body, row.serial)
        if snapshot.version == ROW_LAYOUT:
            resources = resources_at(conn, self._key, row.serial, latest=latest)
            snapshot = snapshot.model_copy(update={"version": 1, "resources": resources})
        if snapshot.lineage != row.lineage:
            raise StateCorrupt(row.serial, f"the body has lineage {snapshot.lineage}")
        if (snapshot.project, snapshot.environment) != (self.project, self.environment):
            raise StateCorrupt(
                row.serial, f"the body is for {snapshot.project}/{snapshot.environment}"
            )
        return snapshot


# the statements of every write, built once with bound parameters: building a statement costs
# more than running it, and apply writes hundreds of serials
def _layout(body: str) -> int:
    """The layout of a stored body, without parsing all of it."""
    head = body[:200]
    return ROW_LAYOUT if '"version":2' in head.replace(" ", "") else 1


def _lock_info(row: Any) -> LockInfo:
    return LockInfo(
        id=row.id,
        owner=row.owner,
        host=row.host,
        pid=row.pid,
        operation=row.operation,
        since=utc(row.since),
    )


def open_store(
    url: str | None,
    project: str,
    environment: str,
    base_dir: str | Path,
    *,
    lock_ttl: timedelta = DEFAULT_LOCK_TTL,
) -> SqlStateStore:
    """Open (creating the tables if needed) the store for one project and environment.

    ``url`` ``None`` means ``sqlite:///<base_dir>/.agentform/state.db``; see
    :func:`agentform.state.tables.connect` for the URLs accepted.
    """
    return SqlStateStore(connect(url, base_dir), project, environment, lock_ttl=lock_ttl)
