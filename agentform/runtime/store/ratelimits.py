"""Rate limits counted in the runtime store, so every engine and worker on one database shares
them: a storage backend for the ``limits`` library, and the checks built on it.

:class:`SQLStorage` implements ``limits.storage.Storage`` (fixed windows: ``incr``, ``get``,
``get_expiry``) on the ``agentform_rate`` table: one row per window key with its count and when
it expires, incremented in one write transaction (``SELECT ... FOR UPDATE`` on PostgreSQL;
SQLite's writers take turns), so two replicas never both take the last slot. :class:`Limiter`
is what callers use: ``hit(key, "10/minute")`` consumes one and returns None, or the seconds to
wait (``Retry-After``) when the limit is reached. When the storage cannot be used it raises
:class:`RateStoreDown`: callers refuse the request (fail closed) and say so.

Used by the engine (per agent and per caller, at submission: the control API and the A2A
servers), the worker (tasks published on the bus) and the models (requests per minute per model,
across replicas).
"""

from __future__ import annotations

import time
from typing import Any

from limits import RateLimitItem, parse
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from agentform.runtime.store.records import StoreError
from agentform.runtime.store.tables import SideTable, metadata, rate_table

__all__ = ["Limiter", "RateStoreDown", "SQLStorage"]


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
        now = time.time()
        for _ in range(3):  # two first hits of a key race on its primary key: once more
            try:
                with self._begin() as conn:
                    query = select(rate_table.c.count, rate_table.c.expires_at).where(
                        rate_table.c.key == key
                    )
                    if conn.dialect.name == "postgresql":
                        query = query.with_for_update()
                    row = conn.execute(query).first()
                    if row is None:
                        conn.execute(
                            insert(rate_table).values(
                                key=key, count=amount, expires_at=now + expiry
                            )
                        )
                        return amount
                    if row.expires_at <= now:  # a new window
                        count, expires = amount, now + expiry
                    else:
                        count, expires = int(row.count) + amount, float(row.expires_at)
                    conn.execute(
                        update(rate_table)
                        .where(rate_table.c.key == key)
                        .values(count=count, expires_at=expires)
                    )
                    return count
            except IntegrityError:
                continue
        raise StoreError(f"could not count a hit of {key!r}")

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


class Limiter:
    """Fixed-window limits on :class:`SQLStorage`; items parsed once (``10/minute``)."""

    def __init__(self, url: str) -> None:
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

    def close(self) -> None:
        self.storage.close()
