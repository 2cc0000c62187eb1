"""The memory of a project: entries of every store, read and written under the store's rules.

:class:`Memory` owns every read and write of ``agentform_memory_items``; through
:class:`~.rules.StoreRules` it enforces on every request what the spec declares for the store
(:class:`~.config.StoreConfig`): which agents may read or write it (a refusal raises
:class:`MemoryDenied` and is recorded), redaction before anything is written, the size of one
entry and the caps of one scope key (refuse, or evict the oldest), expiry (``ttl`` from the last
write, ``retention`` from creation: expired entries are never returned, and
:func:`.admin.sweep` deletes them). Shared keys are written with compare-and-set on their
``version`` (:class:`VersionConflict` says what is there now), counters are incremented
atomically, and a write carrying an idempotency key is done once however often it is replayed.
Full-text search ranks with FTS5's bm25 on SQLite and ``ts_rank_cd`` on PostgreSQL
(:mod:`.search`); semantic and hybrid stores rank by embeddings (:mod:`.embeddings`).

Used by the worker's memory tools (:mod:`.tools`), the agent loop's history and injection
(:mod:`.context`), the engine (:mod:`.stores`) and the ``agentform memory`` commands
(:mod:`.admin`). Every method is one short transaction; errors are :class:`MemoryStoreError`
with a sentence saying what to do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from agentform.runtime.store.memory.config import StoreConfig
from agentform.runtime.store.memory.embeddings import cosine_rank, fuse
from agentform.runtime.store.memory.entries import (
    COLUMNS,
    Entry,
    Hit,
    MemoryDenied,
    MemoryFull,
    MemoryStoreError,
    VersionConflict,
    entry_from_row,
)
from agentform.runtime.store.memory.rules import StoreRules
from agentform.runtime.store.memory.search import search_rows
from agentform.runtime.store.memory.tables import items_table, ops_table

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


class Memory(StoreRules):
    """The memory stores of one project, in the runtime store at ``url``: every operation."""

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
