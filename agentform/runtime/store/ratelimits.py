"""Rate limits counted in the runtime store, so every engine and worker on one database shares
them: a storage backend for the ``limits`` library, and the checks built on it.

:class:`SQLStorage` implements ``limits.storage.Storage`` (fixed windows: ``incr``, ``get``,
``get_expiry``) on the ``agentform_rate`` table: one row per window key with its count and when
it expires, incremented by one statement (:func:`count_hit`: an upsert, which locks the row on
PostgreSQL; SQLite's writers take turns), so two replicas never both take the last slot.
:class:`Limiter` is what callers use: ``hit(key, "10/minute")`` consumes one and returns None, or
the seconds to wait (``Retry-After``) when the limit is reached. When the storage cannot be used
it raises :class:`RateStoreDown`: callers refuse the request (fail closed) and say so.
:func:`hit_in` is the same hit inside a caller's transaction (:func:`hit_all` several,
:func:`first_exhausted` the check for room): the circuit breaker and the budgets count a worker's
steps and calls in a write shared with the other tasks' writes, not in transactions of their own
on a thread.

Used by the engine (per agent and per caller, at submission: the control API and the A2A
servers), the worker (tasks published on the bus, the breaker's call rate) and the models
(requests per minute per model, across replicas).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from limits import RateLimitItem, parse
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import Connection, select
from sqlalchemy.exc import SQLAlchemyError

from agentform.runtime.store import cursor
from agentform.runtime.store.records import StoreError
from agentform.runtime.store.tables import SideTable, metadata, rate_table

if TYPE_CHECKING:
    from agentform.runtime.store.transactions import StoreBase

__all__ = [
    "Limiter",
    "RateStoreDown",
    "SQLStorage",
    "count_hit",
    "first_exhausted",
    "hit_all",
    "hit_in",
]


class RateStoreDown(Exception):
    """The rate-limit counters cannot be read or written: refuse, do not guess."""


class SQLStorage(Storage):
    """``limits`` counters in the runtime database at ``url``."""

    STORAGE_SCHEME = ["agentform+sql"]  # noqa: RUF012 - the limits registry's own attribute

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, wrap_exceptions=False)
        self._table = SideTable(url, metadata, StoreError, "rate-limit counters")

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return (SQLAlchemyError, StoreError)

    def _begin(self) -> Any:
        # the engine's own transaction, not the side table's wrapper: incr needs the
        # IntegrityError of a racing first hit, and limits its SQLAlchemyError as they are
        engine = self._table._engine
        if engine is None:
            raise StoreError("the rate-limit counters are closed")
        return engine.begin()

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        with self._begin() as conn:
            return count_hit(conn, key, amount, expiry, time.time())[0]

    def _row(self, key: str) -> Any:
        with self._begin() as conn:
            return conn.execute(
                select(rate_table.c.count, rate_table.c.expires_at).where(rate_table.c.key == key)
            ).first()

    def get(self, key: str) -> int:
        row = self._row(key)
        return int(row.count) if row is not None and row.expires_at > time.time() else 0

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        return float(row.expires_at) if row is not None else time.time()

    def check(self) -> bool:
        try:
            self._row("-")
        except (SQLAlchemyError, StoreError):
            return False
        return True

    def reset(self) -> int | None:
        with self._begin() as conn:
            return int(conn.execute(rate_table.delete()).rowcount)

    def clear(self, key: str) -> None:
        with self._begin() as conn:
            conn.execute(rate_table.delete().where(rate_table.c.key == key))

    def close(self) -> None:
        self._table.close()


# a fixed window's hit in one statement (an upsert: two first hits of a key cannot both insert,
# and a row's lock orders hits on PostgreSQL), run on the driver's cursor (:mod:`.cursor`); a
# window that has expired starts again with this hit
_COUNT = (
    f'INSERT INTO {rate_table.name} ("key", count, expires_at) VALUES ({{m}}, {{m}}, {{m}})'
    ' ON CONFLICT ("key") DO UPDATE SET'
    f" count = CASE WHEN {rate_table.name}.expires_at <= {{m}} THEN excluded.count"
    f" ELSE {rate_table.name}.count + excluded.count END,"
    f" expires_at = CASE WHEN {rate_table.name}.expires_at <= {{m}} THEN excluded.expires_at"
    f" ELSE {rate_table.name}.expires_at END"
    " RETURNING count, expires_at"
)
_COUNT_SQL = {m: _COUNT.replace("{m}", m) for m in ("?", "%s")}
_items: dict[str, RateLimitItem] = {}


def count_hit(conn: Connection, key: str, cost: int, expiry: int, now: float) -> tuple[int, float]:
    """Add ``cost`` to the counter ``key`` in ``conn``'s transaction (a window of ``expiry``
    seconds from its first hit): the count in the window and when the window ends."""
    ((count, expires),) = cursor.rows(
        conn, _COUNT_SQL[cursor.mark(conn)], (key, cost, now + expiry, now, now)
    )
    return int(count), float(expires)


def hit_in(conn: Connection, key: str, limit: str, cost: int = 1) -> float | None:
    """:meth:`Limiter.hit` in ``conn``'s transaction (a caller's write, shared with others:
    :meth:`~agentform.runtime.store.RuntimeStore.write`), on the same counters."""
    item = _item(limit)
    now = time.time()
    count, expires = count_hit(conn, item.key_for(key), cost, item.get_expiry(), now)
    return None if count <= item.amount else max(1.0, expires - now)


_READ = {
    m: f'SELECT count, expires_at FROM {rate_table.name} WHERE "key" = {m}' for m in ("?", "%s")
}


def _item(limit: str) -> RateLimitItem:
    item = _items.get(limit)
    if item is None:
        item = _items[limit] = parse(limit)
    return item


def first_exhausted(
    conn: Connection, limits: Sequence[tuple[str, str]]
) -> tuple[int, float] | None:
    """The first of ``limits`` (key, limit) with no room left, read in ``conn``'s transaction
    (:meth:`Limiter.exhausted` of each, on the same counters, one statement each): its index
    and the seconds until its window resets; None when every one has room."""
    sql, now = _READ[cursor.mark(conn)], time.time()
    for index, (key, limit) in enumerate(limits):
        item = _item(limit)
        found = cursor.rows(conn, sql, (item.key_for(key),))
        if found and float(found[0][1]) > now and int(found[0][0]) >= item.amount:
            return index, max(0.05, float(found[0][1]) - now)
    return None


def hit_all(conn: Connection, hits: Sequence[tuple[str, str, int]]) -> None:
    """Consume ``cost`` of each (key, limit, cost) in ``conn``'s transaction, past its limit
    too (:meth:`Limiter.hit` of each)."""
    for key, limit, cost in hits:
        hit_in(conn, key, limit, cost)


class Limiter:
    """Fixed-window limits on :class:`SQLStorage`; items parsed once (``10/minute``).

    From asyncio, :meth:`hit_soon` and :meth:`exhausted_soon` count in a write shared with the
    other writes of ``store`` (a worker's runtime store: its group commit) when there is one,
    else on a thread."""

    def __init__(self, url: str, *, store: StoreBase | None = None) -> None:
        self.store = store
        self.storage = SQLStorage(url)
        self._strategy = FixedWindowRateLimiter(self.storage)
        self._items: dict[str, RateLimitItem] = {}

    def item(self, text: str) -> RateLimitItem:
        found = self._items.get(text)
        if found is None:
            found = self._items[text] = parse(text)
        return found

    def hit(self, key: str, limit: str, cost: int = 1) -> float | None:
        """Consume ``cost`` of ``limit`` for ``key``: None when it fit, else the seconds until
        the window resets (for ``Retry-After``). Raises :class:`RateStoreDown` when the
        counters cannot be used."""
        item = self.item(limit)
        try:
            if self._strategy.hit(item, key, cost=cost):
                return None
            reset = self._strategy.get_window_stats(item, key).reset_time
        except (SQLAlchemyError, StoreError) as exc:
            raise RateStoreDown(f"the rate-limit counters cannot be used: {exc}") from None
        return max(1.0, reset - time.time())

    def exhausted(self, key: str, limit: str) -> float | None:
        """None while ``limit`` has room for ``key``, else the seconds until it resets (nothing
        consumed: for budgets booked after the fact, such as tokens)."""
        item = self.item(limit)
        try:
            stats = self._strategy.get_window_stats(item, key)
        except (SQLAlchemyError, StoreError) as exc:
            raise RateStoreDown(f"the rate-limit counters cannot be used: {exc}") from None
        return None if stats.remaining > 0 else max(0.05, stats.reset_time - time.time())

    async def hit_soon(self, key: str, limit: str, cost: int = 1) -> float | None:
        """:meth:`hit`, from asyncio."""
        if self.store is None:
            return await asyncio.to_thread(self.hit, key, limit, cost)
        try:
            return await self.store.write(
                functools.partial(hit_in, key=key, limit=limit, cost=cost)
            )
        except StoreError as exc:
            raise RateStoreDown(f"the rate-limit counters cannot be used: {exc}") from None

    async def exhausted_soon(self, key: str, limit: str) -> float | None:
        """:meth:`exhausted`, from asyncio."""
        if self.store is None:
            return await asyncio.to_thread(self.exhausted, key, limit)
        try:
            first = await self.store.write(
                functools.partial(first_exhausted, limits=[(key, limit)])
            )
        except StoreError as exc:
            raise RateStoreDown(f"the rate-limit counters cannot be used: {exc}") from None
        return None if first is None else first[1]

    def close(self) -> None:
        self.storage.close()
