"""Driver SQL inside the store's SQLAlchemy transactions: the statements on every task's path.

SQLAlchemy's own ``exec_driver_sql`` builds a result object for every statement, which cost more
than SQLite's work for a batch's statement (``benchmarks/README.md``). :func:`rows` runs a
statement on the driver's cursor of the connection SQLAlchemy holds, in its transaction, and
returns the plain rows; errors come out as SQLAlchemy's, as from any other statement, so the
store tells a busy or unreachable database by them. Used by :mod:`.setwise` (tasks and steps,
many at once) and :mod:`.audit` (the appends every step transaction makes).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

__all__ = ["mark", "rows"]


def mark(conn: Connection) -> str:
    """The driver's positional parameter mark (``?`` for SQLite, ``%s`` for psycopg)."""
    return "?" if conn.dialect.name == "sqlite" else "%s"


def rows(conn: Connection, sql: str, params: Any, *, many: bool = False) -> list[tuple[Any, ...]]:
    """Run ``sql`` on the driver's cursor, in ``conn``'s transaction: the rows it returns
    (``many``: ``params`` is a list of parameter rows, run with ``executemany``).

    A connection the database dropped is invalidated, so the pool does not hand it out
    again."""
    cursor = conn.connection.cursor()
    try:
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description else []
    except conn.dialect.loaded_dbapi.Error as exc:
        dropped = conn.dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor)
        if dropped:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            sql, params, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect,
            connection_invalidated=dropped,
        ) from exc  # fmt: skip
    finally:
        cursor.close()
