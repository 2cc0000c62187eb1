"""What agentform's two SQL databases share: SQLite tuned for several writers, schema creation
that two first runs cannot race, and UTC times.

The recorded state (:mod:`agentform.state.tables`) and the runtime store
(:mod:`agentform.runtime.store.tables`) are different databases owned by different layers (which
may not import each other), but both run on SQLite by default with several writers at once and
on PostgreSQL for teams. This module owns the rules they have in common:

* SQLite in write-ahead-log mode (readers never block the writer, a commit appends instead of
  rewriting) with ``synchronous=NORMAL`` (every committed transaction survives a killed process,
  which is the crash both guard against, without waiting for the disk on every commit), and
  ``BEGIN IMMEDIATE`` for writing transactions, so two writers queue at BEGIN instead of
  deadlocking when both try to upgrade a read lock;
* a SQLite file only its owner may read (:mod:`agentform.private`): made so, or tightened
  with its ``-wal``/``-shm`` files, before the first connection (SQLite gives the side files it
  makes the database's own mode);
* tables created under a PostgreSQL advisory transaction lock;
* naive datetimes from SQLite read back as UTC.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from agentform import private

__all__ = ["DatabaseError", "create_schema", "private_file", "tune_sqlite", "utc"]

# what a database driver or SQLAlchemy raises, for callers that must not import SQLAlchemy
DatabaseError = SQLAlchemyError


def tune_sqlite(
    engine: Engine, *, busy_timeout: float | None = None, read_only_option: str | None = None
) -> None:
    """Set the pragmas and transaction mode on every connection of a SQLite ``engine``.

    ``busy_timeout`` (seconds) makes a writer wait for the lock instead of failing at once;
    transactions whose connection carries the execution option ``read_only_option`` begin with a
    plain ``BEGIN`` (they never write, so they need not queue behind writers). The file is made
    private first (:func:`private_file`).
    """
    private_file(engine.url.database)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy emits BEGIN itself (below): the driver must not open transactions
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")
        # statement journals and temporary tables in memory: SQLite otherwise opens, writes and
        # deletes a file under /var/tmp for some multi-row writes (every sixth transaction of
        # the runtime store's small batches)
        dbapi_connection.execute("PRAGMA temp_store=MEMORY")
        if busy_timeout is not None:
            dbapi_connection.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        driver: Any = conn.connection.driver_connection
        if driver is not None and driver.in_transaction:
            return  # begun on the driver already (the runtime store takes the lock itself)
        reading = read_only_option and conn.get_execution_options().get(read_only_option, False)
        conn.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


def private_file(database: str | None) -> None:
    """Make the SQLite file ``database`` its owner's alone: created empty (an empty file is an
    empty database) or tightened, with the side files a past connection left."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    # a directory that is missing or not writable: the driver's own error says so, better
    with contextlib.suppress(OSError):
        private.file(path)
        for suffix in ("-wal", "-shm", "-journal"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                private.file(side)


def create_schema(engine: Engine, metadata: MetaData, lock_key: int) -> None:
    """Create the tables that are missing, and the indexes missing from tables made before
    those indexes were declared; on PostgreSQL under an advisory lock, so two first runs at
    once do not both try."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key})
        metadata.create_all(conn)
        for table in metadata.sorted_tables:
            for index in table.indexes:
                index.create(conn, checkfirst=True)


def utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
