"""The memory of a project: entries of every store, read and written under the store's rules.

:class:`Memory` owns every read and write of ``agentform_memory_items`` and enforces, on every
request, what the spec declares for the store (:class:`~.config.StoreConfig`): which agents may
read or write it (a refusal raises :class:`MemoryDenied` and is recorded), redaction before
anything is written, the size of one entry and the caps of one scope key (refuse, or evict the
oldest), expiry (``ttl`` from the last write, ``retention`` from creation: expired entries are
never returned, and :meth:`Memory.sweep` deletes them). Shared keys are written with
compare-and-set on their ``version`` (:class:`VersionConflict` says what is there now), counters
are incremented atomically, and a write carrying an idempotency key is done once however often
it is replayed. Full-text search ranks with FTS5's bm25 on SQLite and ``ts_rank_cd`` on
PostgreSQL (:mod:`.search`).

Used by the worker's memory tools (:mod:`.tools`), the agent loop's history and injection
(:mod:`.context`), the engine's sweeps and the ``agentform memory`` commands
(:mod:`.admin`). Every method is one short transaction; errors are :class:`MemoryStoreError`
with a sentence saying what to do.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from agentform.runtime.memory import schema
from agentform.runtime.memory.config import InvalidScope, StoreConfig, validate_scope
from agentform.runtime.memory.embeddings import (
    Embedder,
    EmbeddingsUnavailable,
    cosine_rank,
    fuse,
    local_embedder,
)
from agentform.runtime.memory.entries import (
    COLUMNS,
    Entry,
    Hit,
    MemoryDenied,
    MemoryFull,
    MemoryStoreError,
    VersionConflict,
    entry_from_row,
)
from agentform.runtime.memory.redact import Redactor
from agentform.runtime.memory.search import search_rows
from agentform.runtime.memory.tables import denials_table, items_table, ops_table
from agentform.runtime.store_tables import READ_ONLY, acquire, release

__all__ = [
    "Entry",
    "Hit",
    "Memory",
    "MemoryDenied",
    "MemoryFull",
    "MemoryStoreError",
    "VersionConflict",
]


MAX_VECTOR_CANDIDATES = 20_000  # newest entries of one scope key compared by semantic search


class Memory:
    """The memory stores of one project, in the runtime store at ``url``."""

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

    # -- writes ------------------------------------------------------------------------------

    def add(
        self,
        store: str,
        scope: str,
        body: str,
        *,
        agent: str | None = None,
        key: str | None = None,
        role: str | None = None,
        meta: Mapping[str, Any] | None = None,
        idem: str | None = None,
        task_id: str | None = None,
    ) -> Entry:
        """Write one entry (a fact, a note, a session turn); with ``key``, replace that entry.

        Replayed with the same ``idem``, returns what the first call wrote.
        """
        config = self.guard(store, agent, "write", scope, action="write", task_id=task_id)
        body, _, size = self._prepare(config, body, None)
        vector = self._vector(config, body)
        now = self.clock()
        expires = now + config.ttl if config.ttl is not None else None
        with self.transaction() as conn:
            if idem is not None:
                done = conn.execute(
                    select(*COLUMNS).where(items_table.c.store == store, items_table.c.idem == idem)
                ).first()
                if done is not None:
                    return entry_from_row(done)
            self._lock_scope(conn, store, scope)
            row = None
            if key is not None:
                row = conn.execute(
                    update(items_table)
                    .where(
                        items_table.c.store == store,
                        items_table.c.scope == scope,
                        items_table.c.key == key,
                    )
                    .values(
                        text=body,
                        bytes=size,
                        agent=agent,
                        version=items_table.c.version + 1,
                        updated_at=now,
                        expires_at=expires,
                        idem=idem,
                        embedding=vector,
                    )
                    .returning(*COLUMNS)
                ).first()
            if row is None:
                self._make_room(conn, config, scope, size, now)
                row = self._insert(
                    conn, config, scope, now, key=key, agent=agent, role=role, text=body,
                    bytes=size, expires_at=expires, idem=idem, embedding=vector,
                    meta=json.dumps(dict(meta)) if meta else None,
                )  # fmt: skip
            if config.kind == "session" and expires is not None:
                # a conversation expires when it has been quiet for ttl, not turn by turn
                conn.execute(
                    update(items_table)
                    .where(items_table.c.store == store, items_table.c.scope == scope)
                    .values(expires_at=expires)
                )
        return entry_from_row(row)

    def put(
        self,
        store: str,
        scope: str,
        key: str,
        value: Any,
        *,
        expected_version: int | None,
        agent: str | None = None,
        idem: str | None = None,
        task_id: str | None = None,
    ) -> Entry:
        """Set a shared key: only if its version is still ``expected_version`` (0: it must not
        exist yet); ``None`` writes whatever is there (the operator's import and restore)."""
        config = self.guard(store, agent, "write", scope, action="put", task_id=task_id)
        body, encoded, size = self._prepare(config, _shown_value(key, value), value)
        now = self.clock()
        expires = now + config.ttl if config.ttl is not None else None
        with self.transaction() as conn:
            if idem is not None:
                done = conn.execute(select(ops_table.c.result).where(ops_table.c.idem == idem))
                result = done.scalar()
                if result is not None:
                    found = self._get(conn, config, scope, key, now)
                    if found is not None:
                        return found
            self._lock_scope(conn, store, scope)
            where = [
                items_table.c.store == store,
                items_table.c.scope == scope,
                items_table.c.key == key,
            ]
            if expected_version is not None and expected_version > 0:
                where.append(items_table.c.version == expected_version)
            row = None
            if expected_version != 0:
                row = conn.execute(
                    update(items_table)
                    .where(*where)
                    .values(
                        text=body,
                        value=encoded,
                        bytes=size,
                        agent=agent,
                        version=items_table.c.version + 1,
                        updated_at=now,
                        expires_at=expires,
                    )
                    .returning(*COLUMNS)
                ).first()
            if row is None:
                if expected_version not in (None, 0):
                    current = self._get(conn, config, scope, key, now)
                    raise VersionConflict(_conflict(key, expected_version, current), current)
                self._drop_expired(conn, config, scope, key, now)
                self._make_room(conn, config, scope, size, now)
                try:
                    with conn.begin_nested():
                        row = self._insert(
                            conn, config, scope, now, key=key, agent=agent, text=body,
                            value=encoded, bytes=size, expires_at=expires,
                        )  # fmt: skip
                except IntegrityError:
                    current = self._get(conn, config, scope, key, now)
                    raise VersionConflict(_conflict(key, 0, current), current) from None
            if idem is not None:
                conn.execute(insert(ops_table).values(idem=idem, store=store, result="{}", at=now))
        return entry_from_row(row)

    def increment(
        self,
        store: str,
        scope: str,
        key: str,
        amount: float = 1,
        *,
        agent: str | None = None,
        idem: str | None = None,
        task_id: str | None = None,
    ) -> Entry:
        """Add ``amount`` to a numeric shared key (created at 0) in one transaction, under the
        scope key's lock, so concurrent adders queue instead of retrying; replayed with the
        same ``idem`` it is not added again."""
        config = self.guard(store, agent, "write", scope, action="add", task_id=task_id)
        now = self.clock()
        expires = now + config.ttl if config.ttl is not None else None
        with self.transaction() as conn:
            if idem is not None:
                done = conn.execute(select(ops_table.c.result).where(ops_table.c.idem == idem))
                if done.scalar() is not None:
                    found = self._get(conn, config, scope, key, now)
                    if found is not None:
                        return found
            self._lock_scope(conn, store, scope)
            current = self._get(conn, config, scope, key, now)
            base = current.value if current is not None else 0
            if not isinstance(base, int | float) or isinstance(base, bool):
                raise MemoryStoreError(f"{key!r} holds {type(base).__name__}, not a number")
            total = base + amount
            if isinstance(total, float) and total.is_integer() and isinstance(base, int):
                total = int(total)
            body, encoded, size = self._prepare(config, _shown_value(key, total), total)
            values = {"text": body, "value": encoded, "bytes": size, "agent": agent,
                      "updated_at": now, "expires_at": expires}  # fmt: skip
            if current is not None:
                row = conn.execute(
                    update(items_table)
                    .where(items_table.c.id == current.id)
                    .values(**values, version=items_table.c.version + 1)
                    .returning(*COLUMNS)
                ).one()
            else:
                self._drop_expired(conn, config, scope, key, now)
                self._make_room(conn, config, scope, size, now)
                row = self._insert(conn, config, scope, now, key=key, **values)
            if idem is not None:
                conn.execute(insert(ops_table).values(idem=idem, store=store, result="{}", at=now))
        return entry_from_row(row)

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

    # -- reads -------------------------------------------------------------------------------

    def _get(
        self, conn: Connection, config: StoreConfig, scope: str, key: str, now: float
    ) -> Entry | None:
        row = conn.execute(
            select(*COLUMNS).where(
                self._live(config, now), items_table.c.scope == scope, items_table.c.key == key
            )
        ).first()
        return entry_from_row(row) if row is not None else None

    def get(
        self,
        store: str,
        scope: str,
        key: str,
        *,
        agent: str | None = None,
        task_id: str | None = None,
    ) -> Entry | None:
        config = self.guard(store, agent, "read", scope, action="get", task_id=task_id)
        with self.transaction(read=True) as conn:
            return self._get(conn, config, scope, key, self.clock())

    def entries(
        self,
        store: str,
        scope: str | None = None,
        *,
        agent: str | None = None,
        after_id: int = 0,
        limit: int | None = 100,
        newest_first: bool = False,
    ) -> list[Entry]:
        """Live entries of a store (one scope key, or all), oldest first by default."""
        config = self.guard(store, agent, "read", scope or "global", action="list")
        query = select(*COLUMNS).where(self._live(config, self.clock()))
        if scope is not None:
            query = query.where(items_table.c.scope == scope)
        if after_id:
            query = query.where(items_table.c.id > after_id)
        order = items_table.c.id.desc() if newest_first else items_table.c.id
        query = query.order_by(order)
        if limit is not None:
            query = query.limit(limit)
        with self.transaction(read=True) as conn:
            return [entry_from_row(r) for r in conn.execute(query)]

    def search(
        self,
        store: str,
        query: str,
        *,
        scope: str | None = None,
        limit: int = 5,
        agent: str | None = None,
        task_id: str | None = None,
    ) -> list[Hit]:
        """Entries matching ``query``, best first, with their scores (higher is better)."""
        config = self.guard(
            store, agent, "read", scope or "global", action="search", task_id=task_id
        )
        now = self.clock()
        retention_floor = now - config.retention if config.retention is not None else None
        limit = max(1, min(limit, 100))
        if config.search == "fulltext":
            with self.transaction(read=True) as conn:
                found = search_rows(
                    conn, store, query, scope=scope, limit=limit,
                    now=now, created_after=retention_floor,
                )  # fmt: skip
            return [Hit(entry_from_row(row), score) for row, score in found]
        nearest = self._nearest(config, query, scope, limit * 4, now)
        if config.search == "semantic":
            return nearest[:limit]
        with self.transaction(read=True) as conn:
            words = search_rows(
                conn, store, query, scope=scope, limit=limit * 4,
                now=now, created_after=retention_floor,
            )  # fmt: skip
        by_text = [Hit(entry_from_row(row), score) for row, score in words]
        fused = fuse([by_text, nearest], key=lambda h: h.entry.id, limit=limit)
        return [Hit(hit.entry, score) for hit, score in fused]

    def _nearest(
        self, config: StoreConfig, query: str, scope: str | None, limit: int, now: float
    ) -> list[Hit]:
        if not query.strip():
            return []
        vector = self._vector(config, query)
        assert vector is not None
        select_ = (
            select(*COLUMNS, items_table.c.embedding)
            .where(self._live(config, now), items_table.c.embedding.is_not(None))
            .order_by(items_table.c.id.desc())
            .limit(MAX_VECTOR_CANDIDATES)
        )
        if scope is not None:
            select_ = select_.where(items_table.c.scope == scope)
        with self.transaction(read=True) as conn:
            rows = conn.execute(select_).all()
        ranked = cosine_rank(vector, [(row, bytes(row.embedding)) for row in rows], limit)
        return [Hit(entry_from_row(row), score) for row, score in ranked]

    # -- deletes -----------------------------------------------------------------------------

    def forget(
        self,
        store: str,
        scope: str | None = None,
        *,
        ids: list[int] | None = None,
        key: str | None = None,
        agent: str | None = None,
        task_id: str | None = None,
    ) -> int:
        """Delete entries: by id, by key, or every entry of a scope key; returns how many."""
        self.guard(store, agent, "write", scope or "global", action="forget", task_id=task_id)
        query = delete(items_table).where(items_table.c.store == store)
        if scope is not None:
            query = query.where(items_table.c.scope == scope)
        if ids is not None:
            query = query.where(items_table.c.id.in_(ids))
        if key is not None:
            query = query.where(items_table.c.key == key)
        if scope is None and ids is None and key is None:
            raise MemoryStoreError("say what to forget: ids, a key or a scope key")
        with self.transaction() as conn:
            return int(conn.execute(query).rowcount or 0)


def _shown_value(key: str, value: Any) -> str:
    return f"{key}: {json.dumps(value, sort_keys=True, ensure_ascii=False)}"


def _conflict(key: str, expected: int, current: Entry | None) -> str:
    if current is None:
        return f"{key!r} no longer exists (expected version {expected}); read it again"
    if expected == 0:
        return f"{key!r} already exists (version {current.version}); read it, then write with it"
    return (
        f"{key!r} is at version {current.version}, not {expected}: someone wrote it since you"
        " read it; read it again and redo the change"
    )


def _reason(exc: BaseException) -> str:
    text_ = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text_[0] if text_ else type(exc).__name__
