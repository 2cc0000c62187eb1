"""The runtime database: its three tables, and one shared engine per database URL.

This module owns the SQL schema of the runtime (``agentform_tasks``: one row per task with its
status, attempts and token totals; ``agentform_steps``: one row per recorded step of the agent
loop, unique on ``(task_id, seq)``; ``agentform_dead_letters``: at most one row per task whose
message was given up on) and :func:`acquire`/:func:`release`, which hand out a process-wide,
reference-counted engine per URL with the tables created. Called only by
:mod:`agentform.runtime.store`, which turns the SQLAlchemy errors raised here into ``StoreError``.

Tables are created with ``metadata.create_all`` for now; once the schema first changes they will
be managed by Alembic migrations instead, and this ``create_all`` will become "upgrade to head".

SQLite is opened for several worker processes writing one file at once: WAL (readers never block
the writer), ``synchronous=NORMAL``, a 10 s busy timeout, and ``BEGIN IMMEDIATE`` for writes so
two writers queue on the lock instead of failing with "database is locked" when one upgrades a
read transaction. PostgreSQL is driven by psycopg 3.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    inspect,
    text,
)
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError

from agentform.database import create_schema, tune_sqlite, utc

__all__ = [
    "READ_ONLY",
    "acquire",
    "audit_head_table",
    "audit_table",
    "dead_letters_table",
    "rate_table",
    "release",
    "steps_table",
    "tasks_table",
    "utc",
]

BUSY_TIMEOUT_S = 10.0
# execution option asking for a plain (deferred) BEGIN on SQLite: reads need no write lock
READ_ONLY = "agentform_read_only"
_SCHEMA_KEY = int.from_bytes(
    hashlib.sha256(b"agentform-runtime:schema").digest()[:8], "big", signed=True
)

metadata = MetaData()
tasks_table = Table(
    "agentform_tasks",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("agent", String(200), nullable=False),
    Column("context_id", String(255), nullable=False),
    Column("input", Text, nullable=False),
    Column("inputs", Text, nullable=False),  # JSON object
    Column("status", String(20), nullable=False),
    Column("result", Text),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("worker", String(255)),
    Column("parent_id", String(255)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("input_tokens", BigInteger, nullable=False, default=0),
    Column("output_tokens", BigInteger, nullable=False, default=0),
    # who asked: a token's subject, "operator", "agent:NAME" for a delegation (added later:
    # stores made before it get the column when they are opened, see _add_columns)
    Column("caller", String(255)),
    Index("ix_agentform_tasks_created", "created_at"),
    Index("ix_agentform_tasks_agent_created", "agent", "created_at"),
    Index("ix_agentform_tasks_status", "status"),
    Index("ix_agentform_tasks_context", "context_id"),
    Index("ix_agentform_tasks_parent", "parent_id"),
    # whose turn it is in a conversation (every task start asks): without it SQLite scanned
    # every task of the agent, and starts slowed down as the table grew
    Index("ix_agentform_tasks_turn", "agent", "context_id", "created_at"),
)
steps_table = Table(
    "agentform_steps",
    metadata,
    Column("task_id", String(255), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(50), nullable=False),
    Column("data", Text, nullable=False),  # JSON object
    Column("input_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
dead_letters_table = Table(
    "agentform_dead_letters",
    metadata,
    Column("task_id", String(255), primary_key=True),
    Column("agent", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("deliveries", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_agentform_dead_letters_created", "created_at"),
)

# the audit log (:mod:`agentform.runtime.store.audit`): made with the tables above, so a worker
# appending its first record with a step finds it there
audit_table = Table(
    "agentform_audit",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", String(40), nullable=False),  # ISO 8601 text: hashed as stored
    Column("kind", String(64), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("agent", String(255)),
    Column("task", String(255)),
    Column("data", Text, nullable=False),
    Column("prev", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_agentform_audit_at", "at"),
    Index("ix_agentform_audit_agent", "agent"),
    Index("ix_agentform_audit_kind", "kind"),
    Index("ix_agentform_audit_task", "task"),
)
audit_head_table = Table(
    "agentform_audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

# rate-limit counters shared by every engine and worker on this database (a ``limits`` storage:
# :mod:`agentform.runtime.store.ratelimits`): one row per window key
rate_table = Table(
    "agentform_rate",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("expires_at", Float, nullable=False),  # epoch seconds
)

_lock = threading.Lock()
_engines: dict[str, tuple[Engine, int]] = {}


def acquire(url: str) -> Engine:
    """The shared engine for ``url`` (created, with the tables, on first use); pair with release.

    Raises ``ValueError`` for a URL that names no usable database, and SQLAlchemy's errors when
    the database cannot be reached.
    """
    key = _normalise(url).render_as_string(hide_password=False)
    with _lock:
        if key in _engines:
            engine, users = _engines[key]
            _engines[key] = (engine, users + 1)
            return engine
        engine = _create(_normalise(url))
        _engines[key] = (engine, 1)
        return engine


def release(engine: Engine) -> None:
    """Give back an engine from :func:`acquire`; the last user closes its connections."""
    with _lock:
        for key, (known, users) in list(_engines.items()):
            if known is engine:
                if users > 1:
                    _engines[key] = (known, users - 1)
                else:
                    del _engines[key]
                    known.dispose()
                return
    engine.dispose()


def _normalise(url: str) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend in {"postgresql", "postgres"}:
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        database = parsed.database or ""
        if not database or database == ":memory:" or not Path(database).is_absolute():
            raise ValueError(
                f"runtime store URL {url!r} must name an absolute file path "
                "(sqlite:////abs/path/runtime.db): several processes share the file"
            )
        return parsed.set(drivername="sqlite")
    raise ValueError(
        f"unsupported runtime store URL {parsed.render_as_string(hide_password=True)}: "
        "use sqlite:////ABSOLUTE/PATH or postgresql+psycopg://USER@HOST/DATABASE"
    )


def _create(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        Path(url.database or "").parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})
        tune_sqlite(engine, busy_timeout=BUSY_TIMEOUT_S, read_only_option=READ_ONLY)
    else:
        engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    try:
        create_schema(engine, metadata, _SCHEMA_KEY)
        _add_columns(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


# columns added to tables after stores were first made: (table, column, SQL type)
_ADDED = [("agentform_tasks", "caller", "VARCHAR(255)")]


def _add_columns(engine: Engine) -> None:
    """Add the columns a store made by an earlier version lacks (create_all adds tables only)."""
    for table, column, kind in _ADDED:
        present = {c["name"] for c in inspect(engine).get_columns(table)}
        if column in present:
            continue
        try:
            with engine.begin() as conn:
                conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {kind}"))
        except (OperationalError, ProgrammingError):
            # another process added it meanwhile
            present = {c["name"] for c in inspect(engine).get_columns(table)}
            if column not in present:
                raise


def _forget_after_fork() -> None:
    # a forked child must not reuse its parent's sockets or SQLite handles, nor wait on a lock
    # another parent thread held at the fork
    global _lock  # noqa: PLW0603
    _lock = threading.Lock()
    for engine, _users in _engines.values():
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_after_fork)


class SideTable:
    """A table of the runtime database kept beside the tasks (tokens, approval requests):
    opened on the store's shared engine, created when missing, released on :meth:`close`.
    ``failure`` is the error a subclass raises, with a sentence naming ``what`` it holds."""

    def __init__(self, url: str, metadata: MetaData, failure: type[Exception], what: str) -> None:
        self._failure, self._what = failure, what
        try:
            self._engine: Engine | None = acquire(url)
        except (ValueError, SQLAlchemyError) as exc:
            raise failure(f"cannot open the {what}: {exc}") from None
        for attempt in (1, 2):
            try:
                with self._engine.begin() as conn:
                    metadata.create_all(conn)
                break
            except SQLAlchemyError as exc:
                # PostgreSQL: another process created the table at the same moment (its type
                # name's unique index says so); the second look finds it
                if attempt == 2:
                    release(self._engine)
                    self._engine = None
                    raise failure(f"cannot open the {what}: {exc}") from None

    @contextlib.contextmanager
    def _begin(self) -> Iterator[Connection]:
        """One write transaction; database errors become the subclass's ``failure``."""
        if self._engine is None:
            raise self._failure(f"the {self._what} is closed")
        try:
            with self._engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise self._failure(f"the {self._what} could not be used: {exc}") from None

    def close(self) -> None:
        if self._engine is not None:
            release(self._engine)
            self._engine = None
