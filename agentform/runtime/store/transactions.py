"""The runtime store's plumbing: its database engine, transactions, and calls from asyncio.

:class:`StoreBase` owns what every store operation stands on: the shared engine of the database
(:mod:`.tables`), the insert statements built once, one short transaction per operation
(:meth:`StoreBase._begin`: SQLite writers of one process take turns on a lock, reads ask for a
plain ``BEGIN``, database errors become :class:`~agentform.runtime.store.records.StoreError` with a
sentence), and :meth:`StoreBase.run`, which calls the store from asyncio, inline on SQLite
(:mod:`.inline`). :class:`~agentform.runtime.store.RuntimeStore` adds the operations.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self, TypeVar, cast

from sqlalchemy import Connection, Engine, Insert, Table, Update, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from agentform.runtime.store.batch import Grouped, WriteBatch, run_writes
from agentform.runtime.store.inline import (
    INLINE_WAIT_S,
    StoreBusy,
    inline_active,
    run_store,
    try_inline,
    writer_turn,
)
from agentform.runtime.store.records import StoreError
from agentform.runtime.store.setwise import TaskSQL
from agentform.runtime.store.statements import UNFINISHED
from agentform.runtime.store.tables import (
    BUSY_TIMEOUT_S,
    READ_ONLY,
    acquire,
    release,
    tasks_table,
)

__all__ = ["StoreBase", "sqlite_writer"]

T = TypeVar("T")


class StoreBase:
    """The database at ``url`` (SQLite file or PostgreSQL), opened for the runtime's tables."""

    def __init__(self, url: str) -> None:
        self._shown = _shown(url)
        try:
            self._engine: Engine | None = acquire(url)
        except ValueError as exc:
            raise StoreError(str(exc)) from None
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot open the runtime store {self._shown} ({_reason(exc)}); check the URL "
                "and that the database is reachable; retrying helps if it was starting up"
            ) from None
        self._insert = (
            postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        )
        self._inline = self._engine.dialect.name == "sqlite"
        self._held: Connection | None = None  # the connection of writes made inline
        self._batch = WriteBatch(self._begin, self.run, try_inline if self._inline else None)
        # the writes every task makes, many tasks at a time (:mod:`.setwise`)
        self._sql = TaskSQL(self._engine.dialect.name)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call ``fn`` (a method of this store, or a function making one call) from asyncio:
        inline on SQLite while the database is free, else on a thread
        (:mod:`agentform.runtime.store.inline`)."""
        return await run_store(self._inline, fn, *args, **kwargs)

    async def write(self, op: Callable[[Connection], T]) -> T:
        """Run ``op(conn)`` in a write transaction, shared with the writes other tasks of this
        process ask for in the same turn of the event loop (group commit,
        :mod:`agentform.runtime.store.batch`); the result comes once it has committed."""
        return cast(T, await self._batch.write(op))

    async def _write_later(self, write: Grouped) -> Any:
        """:meth:`write` of one write of a kind the store runs for many tasks at once
        (:class:`~agentform.runtime.store.batch.Grouped`)."""
        return await self._batch.write(write)

    def _write_now(self, write: Grouped) -> Any:
        """The same write alone, in a transaction of its own (the synchronous methods)."""
        with self._begin() as conn:
            return run_writes(conn, [write])[0]

    def close(self) -> None:
        """Give back the connections; the store cannot be used afterwards."""
        if self._held is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._held.close()
            self._held = None
        if self._engine is not None:
            release(self._engine)
            self._engine = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()

    # plumbing

    @contextmanager
    def _begin(self, *, read: bool = False) -> Iterator[Connection]:
        if self._engine is None:
            raise StoreError("the runtime store is closed; open a new RuntimeStore")
        # SQLite has one writer at a time, and a writer that finds the file locked sleeps in
        # growing steps (1, 2, 5, 10 ... 100 ms) before it tries again; the threads of one
        # process take turns on a lock instead, which hands over at once
        serial = sqlite_writer(self._engine) if not read else contextlib.nullcontext()
        inline = inline_active()
        try:
            with (
                writer_turn(serial),
                self._connection(inline=inline, read=read) as conn,
                conn.begin(),
            ):
                yield conn
        except OperationalError as exc:
            if inline and "locked" in str(exc.orig):
                raise StoreBusy(str(exc.orig)) from None
            raise StoreError(
                f"the runtime store {self._shown} failed: {_reason(exc)}; retrying helps only if "
                "the database was unreachable or busy"
            ) from None
        except DBAPIError as exc:
            raise StoreError(
                f"the runtime store {self._shown} failed: {_reason(exc)}; retrying helps only if "
                "the database was unreachable or busy"
            ) from None

    @contextmanager
    def _connection(self, *, inline: bool, read: bool) -> Iterator[Connection]:
        """A connection for one transaction. Writes on the event loop (SQLite) keep one
        connection, set once not to wait for the file's lock (a write that finds it taken
        raises StoreBusy at once: a batch then waits without holding the loop, a single call
        moves to a thread); a pooled connection costs a checkout, a reset and two settings
        per transaction, more than a small write."""
        assert self._engine is not None
        if inline and not read:
            held = self._held
            if held is None or held.closed or held.invalidated:
                held = self._held = self._engine.connect()
                _busy_timeout(held, 0.0)
            driver: Any = held.connection.driver_connection
            try:
                # take the file's lock on the driver first: finding it taken is then one cheap
                # error, not one wrapped by SQLAlchemy (a batch may try many times while
                # another process writes); the transaction SQLAlchemy begins next is this one
                driver.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc):
                    raise StoreBusy(str(exc)) from None
                # anything else: SQLAlchemy's begin below meets it again and reports it
            try:
                yield held
            except DBAPIError as exc:
                if not (isinstance(exc, OperationalError) and "locked" in str(exc.orig)):
                    self._held = None  # it may be broken: the next write opens another
                    with contextlib.suppress(SQLAlchemyError):
                        held.close()
                raise
            finally:
                if driver.in_transaction:  # begun here, and SQLAlchemy never took it over
                    with contextlib.suppress(sqlite3.Error):
                        driver.rollback()
            return
        with self._engine.connect() as conn:
            if read:
                conn.execution_options(**{READ_ONLY: True})
            if inline:  # on the event loop: wait for SQLite's lock briefly, then hand off
                _busy_timeout(conn, INLINE_WAIT_S)
            try:
                yield conn
            finally:
                if inline:  # the engine is shared (memory stores use it): put it back
                    _busy_timeout(conn, BUSY_TIMEOUT_S)

    def _peek(self, sql: str, params: tuple[Any, ...]) -> list[Any] | None:
        """The rows of one small read on SQLite's driver, on the connection the event loop
        writes with, outside a transaction (WAL: a reader never waits for the writer); None
        when that cannot be (not inline, no such connection yet, SQLite said busy): read in a
        transaction then. A read transaction costs a pooled connection's checkout, two
        settings and a ``BEGIN``, several times the read itself."""
        held = self._held if inline_active() else None
        if held is None or held.closed or held.invalidated:
            return None
        driver: Any = held.connection.driver_connection
        if driver.in_transaction:
            return None
        try:
            return list(driver.execute(sql, params).fetchall())
        except sqlite3.OperationalError:
            return None

    def _insert_new(self, table: Table, key: list[str]) -> Insert:
        # ON CONFLICT DO NOTHING: a concurrent or repeated insert is a no-op, not an error
        return self._insert(table).on_conflict_do_nothing(index_elements=key)

    @staticmethod
    def _task_update(id: str) -> Update:
        # compare-and-set: only a task that is not finished may change
        return update(tasks_table).where(tasks_table.c.id == id, UNFINISHED)


_writers: dict[str, threading.Lock] = {}


def sqlite_writer(engine: Engine) -> contextlib.AbstractContextManager[Any]:
    """The process's write lock for this SQLite database (a no-op for PostgreSQL)."""
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    return _writers.setdefault(str(engine.url), threading.Lock())  # atomic under the GIL


os.register_at_fork(after_in_child=_writers.clear)  # a held lock must not follow a fork


def _busy_timeout(conn: Connection, seconds: float) -> None:
    """Set how long SQLite waits for its lock on this connection, when it is not that already
    (the setting stays with the pooled connection)."""
    info = conn.connection.info
    if info.get("busy_timeout") != seconds:
        driver: Any = conn.connection.driver_connection
        driver.execute(f"PRAGMA busy_timeout={int(seconds * 1000)}")
        info["busy_timeout"] = seconds


def _shown(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "(unparsable URL)"


def _reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    return " ".join(str(orig if orig is not None else exc).split())
