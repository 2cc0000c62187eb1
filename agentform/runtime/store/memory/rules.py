"""The rules every memory request goes through: one project's stores, its database, and
what the spec declares for each store (:class:`~.config.StoreConfig`).

:class:`StoreRules` owns opening the runtime store (and checking or running the memory schema's
migrations), transactions, and the rules a request is checked against before it touches data:
which agents may read or write a store (a refusal raises :class:`~.entries.MemoryDenied` and is
recorded in ``agentform_memory_denials``), redaction before anything is written, the size of one
entry and the caps of one scope key (refuse, or evict the oldest), expiry (``ttl`` from the last
write, ``retention`` from creation: what expired is never returned), the per-scope write lock on
PostgreSQL, and the embedding of entries of semantic stores. The operations themselves (add,
put, increment, get, search, forget) are :class:`~.service.Memory`'s.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, insert, or_, select, text
from sqlalchemy.exc import SQLAlchemyError

from agentform.runtime.audit import AuditEvent
from agentform.runtime.store.audit import append as append_audit
from agentform.runtime.store.memory import schema
from agentform.runtime.store.memory.config import InvalidScope, StoreConfig, validate_scope
from agentform.runtime.store.memory.embeddings import (
    Embedder,
    EmbeddingsUnavailable,
    local_embedder,
)
from agentform.runtime.store.memory.entries import (
    COLUMNS,
    MemoryDenied,
    MemoryFull,
    MemoryStoreError,
)
from agentform.runtime.store.memory.redact import Redactor
from agentform.runtime.store.memory.tables import denials_table, items_table
from agentform.runtime.store.tables import READ_ONLY, acquire, release

__all__ = ["StoreRules"]


class StoreRules:
    """The stores of one project in the runtime store at ``url``, and the rules they keep."""

    def __init__(
        self,
        url: str,
        stores: Mapping[str, StoreConfig],
        *,
        migrate: bool = False,
        clock: Callable[[], float] = time.time,
        embedder: Embedder | None = None,
    ) -> None:
        """Open the database; ``migrate`` brings its memory schema up to date first (apply and
        the CLI do; workers only check that it is, and say to run apply when it is not)."""
        self.clock = clock
        self._embedder = embedder
        self.set_stores(stores)
        try:
            self._engine: Engine | None = acquire(url)
        except (ValueError, SQLAlchemyError) as exc:
            raise MemoryStoreError(f"cannot open the memory store: {_reason(exc)}") from None
        try:
            if migrate:
                schema.upgrade(self._engine)
            elif schema.current(self._engine) != schema.HEAD:
                raise MemoryStoreError(
                    "the memory schema of the runtime store is not up to date; run"
                    " 'agentform apply' (it runs the migrations)"
                )
        except SQLAlchemyError as exc:
            self.close()
            raise MemoryStoreError(f"cannot migrate the memory schema: {_reason(exc)}") from None
        except MemoryStoreError:
            self.close()
            raise
        self.dialect = self._engine.dialect.name

    def set_stores(self, stores: Mapping[str, StoreConfig]) -> None:
        """The stores and their rules (the engine updates them as apply changes the spec)."""
        self._redactors = {n: Redactor.from_spec(c.redact) for n, c in stores.items()}
        self.stores = dict(stores)

    def embedder(self) -> Embedder:
        """The embedding model of semantic stores (the bundled local one unless given)."""
        if self._embedder is None:
            self._embedder = local_embedder()
        return self._embedder

    def _vector(self, config: StoreConfig, body: str) -> bytes | None:
        if config.search == "fulltext":
            return None
        try:
            return self.embedder().embed([body])[0]
        except EmbeddingsUnavailable as exc:
            raise MemoryStoreError(str(exc)) from None

    def close(self) -> None:
        if self._engine is not None:
            release(self._engine)
            self._engine = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise MemoryStoreError("the memory store is closed")
        return self._engine

    @contextmanager
    def transaction(self, *, read: bool = False) -> Iterator[Connection]:
        try:
            with self.engine.connect() as raw:
                conn = raw.execution_options(**{READ_ONLY: True}) if read else raw
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise MemoryStoreError(f"the memory store failed: {_reason(exc)}") from None

    # -- rules -------------------------------------------------------------------------------

    def config(self, store: str) -> StoreConfig:
        found = self.stores.get(store)
        if found is None:
            known = ", ".join(sorted(self.stores)) or "none"
            raise MemoryStoreError(f"no memory store named {store!r} (stores: {known})")
        return found

    def guard(
        self,
        store: str,
        agent: str | None,
        mode: str,
        scope: str,
        *,
        action: str,
        task_id: str | None = None,
    ) -> StoreConfig:
        """The store's config if ``agent`` may ``mode`` (read/write) it; else record and raise."""
        config = self.config(store)
        try:
            validate_scope(scope)
        except InvalidScope as exc:
            raise MemoryStoreError(str(exc)) from None
        if config.allows(agent, mode):
            return config
        reason = f"agent {agent!r} may not {mode} memory {store!r}"
        with self.transaction() as conn:
            conn.execute(
                insert(denials_table).values(
                    at=self.clock(),
                    store=store,
                    agent=str(agent),
                    action=action,
                    scope=scope,
                    reason=reason,
                    task_id=task_id,
                )
            )
            # and in the audit log, when this database has one (the runtime store's, which
            # holds memory unless a store says otherwise): a savepoint, so a database without
            # it still records the denial
            with contextlib.suppress(SQLAlchemyError), conn.begin_nested():
                append_audit(
                    conn,
                    [
                        AuditEvent(
                            "memory.denied",
                            f"agent:{agent}",
                            str(agent) if agent else None,
                            task_id,
                            {"store": store, "mode": mode, "action": action},
                        )
                    ],
                )
        raise MemoryDenied(f"{reason} (the spec's memory.{store}.access says who may)")

    def _live(self, config: StoreConfig, now: float) -> Any:
        live = or_(items_table.c.expires_at.is_(None), items_table.c.expires_at > now)
        if config.retention is not None:
            live = and_(live, items_table.c.created_at > now - config.retention)
        return and_(items_table.c.store == config.name, live)

    def _lock_scope(self, conn: Connection, store: str, scope: str) -> None:
        # SQLite writers are serialised by BEGIN IMMEDIATE; PostgreSQL ones per scope key
        if self.dialect == "postgresql":
            digest = hashlib.sha256(f"{store}\0{scope}".encode()).digest()[:8]
            key = int.from_bytes(digest, "big", signed=True)
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})

    def _prepare(self, config: StoreConfig, body: str, value: Any) -> tuple[str, str | None, int]:
        redactor = self._redactors[config.name]
        if redactor:
            body, _ = redactor.redact(body)
            if value is not None:
                value, _ = redactor.redact_value(value)
        encoded = json.dumps(value, sort_keys=True) if value is not None else None
        size = len(body.encode()) + (len(encoded.encode()) if encoded is not None else 0)
        if size > config.max_item_bytes:
            raise MemoryFull(
                f"an entry of {size} bytes is over memory {config.name!r}'s max_item_bytes"
                f" ({config.max_item_bytes}); store a shorter summary"
            )
        return body, encoded, size

    def _make_room(
        self, conn: Connection, config: StoreConfig, scope: str, size: int, now: float
    ) -> None:
        if config.max_scope_items is None and config.max_scope_bytes is None:
            return
        where = and_(self._live(config, now), items_table.c.scope == scope)
        count, used = conn.execute(
            select(func.count(), func.coalesce(func.sum(items_table.c.bytes), 0)).where(where)
        ).one()
        over_items = config.max_scope_items is not None and count + 1 > config.max_scope_items
        over_bytes = config.max_scope_bytes is not None and used + size > config.max_scope_bytes
        if not (over_items or over_bytes):
            return
        if config.on_full != "evict_oldest":
            cap = (
                f"max_scope_items {config.max_scope_items}"
                if over_items
                else f"max_scope_bytes {config.max_scope_bytes}"
            )
            raise MemoryFull(
                f"{scope} in memory {config.name!r} is full ({count} entries, {used} bytes;"
                f" {cap}); forget something first, or raise the cap in the spec"
            )
        rows = conn.execute(
            select(items_table.c.id, items_table.c.bytes).where(where).order_by(items_table.c.id)
        ).all()
        doomed: list[int] = []
        for row_id, row_bytes in rows:
            fits_items = config.max_scope_items is None or count + 1 <= config.max_scope_items
            fits_bytes = config.max_scope_bytes is None or used + size <= config.max_scope_bytes
            if fits_items and fits_bytes:
                break
            doomed.append(int(row_id))
            count, used = count - 1, used - int(row_bytes)
        if doomed:
            conn.execute(delete(items_table).where(items_table.c.id.in_(doomed)))

    def _insert(
        self, conn: Connection, config: StoreConfig, scope: str, now: float, **values: Any
    ) -> Any:
        """A new entry (version 1, created now); ``values`` fill the other columns."""
        row = {"store": config.name, "kind": config.kind, "scope": scope, "version": 1,
               "created_at": now, "updated_at": now, **values}  # fmt: skip
        return conn.execute(insert(items_table).values(**row).returning(*COLUMNS)).one()

    def _drop_expired(
        self, conn: Connection, config: StoreConfig, scope: str, key: str, now: float
    ) -> None:
        """An expired entry not swept yet still holds its key: it goes before a new one."""
        conn.execute(
            delete(items_table).where(
                items_table.c.store == config.name,
                items_table.c.scope == scope,
                items_table.c.key == key,
                ~self._live(config, now),
            )
        )


def _reason(exc: BaseException) -> str:
    text_ = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text_[0] if text_ else type(exc).__name__
