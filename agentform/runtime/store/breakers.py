"""Open circuit breakers, kept in the runtime store so every replica and the engine see them.

This module owns the ``agentform_breakers`` table (one row per agent whose breaker opened: until
when, and why) and :class:`BreakerBook`. An agent's breaker opens when it makes more tool calls
in a minute than its ``circuit_breaker.max_calls_per_minute`` (counted with the rate-limit
counters, :mod:`agentform.runtime.store.ratelimits`) and stays open for its ``cooldown``: the
workers (:mod:`agentform.runtime.policy.breaker`) trip every call meanwhile, and the engine's
status shows it. Reopening only ever moves ``until`` later.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    MetaData,
    String,
    Table,
    Text,
    delete,
    select,
    update,
)

from agentform.runtime.store import cursor
from agentform.runtime.store.ratelimits import hit_in
from agentform.runtime.store.records import StoreError
from agentform.runtime.store.tables import SideTable, utc

__all__ = ["BreakerBook", "breakers_table", "call_rate", "open_in"]

metadata = MetaData()
breakers_table = Table(
    "agentform_breakers",
    metadata,
    Column("agent", String(255), primary_key=True),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("until", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
)


_OPEN = f"SELECT until, reason FROM {breakers_table.name} WHERE agent = "  # + the mark


def open_in(
    conn: Connection, agent: str, now: datetime | None = None
) -> tuple[datetime, str] | None:
    """:meth:`BreakerBook.open_until` in ``conn``'s transaction (the worker asks before every
    tool call, in a write shared with other tasks': driver SQL, :mod:`.cursor`)."""
    found = cursor.rows(conn, _OPEN + cursor.mark(conn), (agent,))
    if not found:
        return None
    until, reason = found[0]
    # SQLite keeps SQLAlchemy's text (the UTC time's fields); PostgreSQL an aware time
    until = datetime.fromisoformat(until) if isinstance(until, str) else until
    until = utc(until)
    return (until, str(reason)) if until > (now or datetime.now(UTC)) else None


def call_rate(
    conn: Connection, *, agent: str, per_minute: int, book: bool
) -> tuple[tuple[datetime, str] | None, float | None]:
    """One tool call of ``agent`` against its breaker, in ``conn``'s transaction: the open
    breaker that refuses it (``book``: when one can be open), else the seconds to wait when it
    is one call too many this minute (None: it fits; counted with the rate-limit counters)."""
    found = open_in(conn, agent) if book else None
    if found is not None:
        return found, None
    return None, hit_in(conn, f"breaker:{agent}", f"{per_minute}/minute")


class BreakerBook(SideTable):
    """The open breakers of the runtime database at ``url``."""

    def __init__(self, url: str) -> None:
        super().__init__(url, metadata, StoreError, "circuit breakers table")

    def open(self, agent: str, until: datetime, reason: str) -> None:
        """Open ``agent``'s breaker until ``until`` (kept if it is already open for longer)."""
        row = {"agent": agent, "opened_at": datetime.now(UTC), "until": until, "reason": reason}
        try:
            with self._begin() as conn:
                conn.execute(breakers_table.insert().values(**row))
            return
        except StoreError:
            pass  # a row exists (or the database failed: the update below says so)
        table = breakers_table.c
        with self._begin() as conn:
            conn.execute(
                update(breakers_table)
                .where(table.agent == agent, table.until < until)
                .values(**row)
            )

    def open_until(self, agent: str, now: datetime | None = None) -> tuple[datetime, str] | None:
        """Until when ``agent``'s breaker is open, and why; None when it is closed."""
        with self._begin() as conn:
            return open_in(conn, agent, now)

    def all_open(self, now: datetime | None = None) -> dict[str, tuple[datetime, str]]:
        """Every open breaker: agent -> (until, why)."""
        now = now or datetime.now(UTC)
        with self._begin() as conn:
            rows = list(conn.execute(select(breakers_table)))
        found = {str(r.agent): (utc(r.until), str(r.reason)) for r in rows}
        return {a: v for a, v in found.items() if v[0] > now}

    def close_breaker(self, agent: str) -> bool:
        """Close ``agent``'s breaker now (an operator's reset); whether one was open."""
        with self._begin() as conn:
            return bool(
                conn.execute(delete(breakers_table).where(breakers_table.c.agent == agent)).rowcount
            )
