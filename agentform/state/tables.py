"""The state database: its two tables, and turning a state URL into a ready engine.

This module owns the SQL schema (``agentform_state``: one row per serial, every serial kept, with
the lineage and a one-line summary in columns so history and compare-and-set never need to parse a
body; ``agentform_lock``: at most one row per project and environment, naming the holder) and
:func:`connect`, which picks the driver (SQLite, or PostgreSQL through psycopg 3) and creates the
tables. Called by :mod:`agentform.state.store`, the only user of these tables.
"""

from __future__ import annotations

from pathlib import Path

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
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from agentform import private
from agentform.database import create_schema, tune_sqlite, utc
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
        private.directory(path.parent)
        url = f"sqlite:///{path}"
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    if backend in {"postgresql", "postgres"}:
        engine = create_engine(parsed.set(drivername="postgresql+psycopg"), pool_pre_ping=True)
    elif backend == "sqlite":
        engine = create_engine(parsed)
        tune_sqlite(engine)
    else:
        raise StateError(
            f"unsupported state URL {shown}: use sqlite:///PATH or postgresql://USER@HOST/DATABASE"
        )
    try:
        create_schema(engine, _metadata, _SCHEMA_KEY)
    except OperationalError as exc:
        engine.dispose()
        raise StateError(
            f"cannot open the state database {shown} ({exc.orig}); check --state-url and that "
            "the database is reachable; retrying helps if it was starting up"
        ) from None
    return engine
