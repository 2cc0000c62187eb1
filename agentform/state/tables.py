"""The state database: its two tables, and turning a state URL into a ready engine.

This module owns the SQL schema (``agentform_state``: one row per serial, every serial kept, with
the lineage and a one-line summary in columns so history and compare-and-set never need to parse a
body; ``agentform_lock``: at most one row per project and environment, naming the holder) and
:func:`connect`, which picks the driver (SQLite, or PostgreSQL through psycopg 3) and creates the
tables. Called by :mod:`agentform.state.store`, the only user of these tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError

from agentform.state.lock import advisory_key
from agentform.state.snapshot import StateError

__all__ = ["connect", "lock_table", "resource_table", "state_table", "utc"]

_SCHEMA_KEY = advisory_key("agentform", "schema")

_metadata = MetaData()
state_table = Table(
    "agentform_state",
    _metadata,
    Column("project", String(200), primary_key=True),
    Column("environment", String(200), primary_key=True),
    Column("serial", Integer, primary_key=True, autoincrement=False),
    Column("lineage", String(36), nullable=False),
    Column("written_at", DateTime(timezone=True), nullable=False),
    Column("summary", Text, nullable=False),
    Column("body", Text, nullable=False),
)
# one row per version of one resource: [serial_from, serial_to) is the range of serials that
# contain it (serial_to NULL: it is in the latest), so a serial costs the resources it changed,
# not all of them (state layout 2; layout-1 bodies carry their resources inline)
resource_table = Table(
    "agentform_state_resources",
    _metadata,
    Column("project", String(200), primary_key=True),
    Column("environment", String(200), primary_key=True),
    Column("address", String(400), primary_key=True),
    Column("serial_from", Integer, primary_key=True, autoincrement=False),
    Column("serial_to", Integer, nullable=True),
    Column("body", Text, nullable=False),
    Index("ix_agentform_state_resources_open", "project", "environment", "serial_to"),
)
lock_table = Table(
    "agentform_lock",
    _metadata,
    Column("project", String(200), primary_key=True),
    Column("environment", String(200), primary_key=True),
    Column("id", String(36), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("operation", String(100), nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


def connect(url: str | None, base_dir: str | Path) -> Engine:
    """An engine for ``url``, with the state tables created if they were missing.

    ``url`` ``None`` means ``sqlite:///<base_dir>/.agentform/state.db``. PostgreSQL URLs
    (``postgresql://`` or ``postgres://``) are driven by psycopg 3.
    """
    if url is None:
        path = Path(base_dir).resolve() / ".agentform" / "state.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{path}"
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    if backend in {"postgresql", "postgres"}:
        engine = create_engine(parsed.set(drivername="postgresql+psycopg"), pool_pre_ping=True)
    elif backend == "sqlite":
        engine = create_engine(parsed)
        _begin_immediate(engine)
    else:
        raise StateError(
            f"unsupported state URL {shown}: use sqlite:///PATH or postgresql://USER@HOST/DATABASE"
        )
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # two first runs at once must not both create the tables
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_KEY})
            _metadata.create_all(conn)
    except OperationalError as exc:
        engine.dispose()
        raise StateError(
            f"cannot open the state database {shown} ({exc.orig}); check --state-url and that "
            "the database is reachable; retrying helps if it was starting up"
        ) from None
    return engine


def _begin_immediate(engine: Engine) -> None:
    """Make SQLite take its write lock at BEGIN, so two writers queue instead of deadlocking."""

    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        # write-ahead log: readers never block the writer, and a commit appends instead of
        # rewriting; NORMAL sync keeps every committed serial across a killed process (the
        # case apply guards against) while not waiting for the disk on every commit
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    @event.listens_for(engine, "begin")
    def _immediate(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
