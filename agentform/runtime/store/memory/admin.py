"""Looking after memory as an operator: expiry sweeps, counts, export, import, forgetting a person.

These act on whole stores, across scope keys, on behalf of the engine (:func:`sweep`, every
minute, and :func:`counts` for what ``plan`` reports of a store) and of the ``agentform memory``
commands (:func:`export_rows`, :func:`import_rows`, :func:`forget_subject`, :func:`drop_store`).
Export writes one JSON object per entry (JSONL, :data:`EXPORT_FIELDS`); import reads the same,
checks every line before it writes anything, applies the destination store's redaction and size
rules, and is idempotent: an entry already there (same store, scope and key, or the same
exported id) is skipped, so an interrupted import can simply be run again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import and_, delete, func, or_, select

from agentform.runtime.store.memory.config import InvalidScope, validate_scope
from agentform.runtime.store.memory.entries import MemoryStoreError, entry_from_row
from agentform.runtime.store.memory.service import Memory
from agentform.runtime.store.memory.tables import denials_table, items_table

__all__ = [
    "EXPORT_FIELDS",
    "ImportError_",
    "counts",
    "denials",
    "drop_store",
    "embed_missing",
    "export_rows",
    "forget_subject",
    "import_rows",
    "scope_counts",
    "sweep",
]

EXPORT_FIELDS = (
    "store",
    "kind",
    "scope",
    "key",
    "agent",
    "role",
    "text",
    "value",
    "version",
    "created_at",
    "updated_at",
    "expires_at",
    "meta",
    "id",
)


class ImportError_(MemoryStoreError):
    """A line of an import file is not an entry; nothing was imported."""


def sweep(memory: Memory) -> dict[str, int]:
    """Delete what expired (``ttl``) or outlived ``retention``; entries deleted per store."""
    now = memory.clock()
    gone: dict[str, int] = {}
    with memory.transaction() as conn:
        expired = conn.execute(
            delete(items_table)
            .where(items_table.c.expires_at.is_not(None), items_table.c.expires_at <= now)
            .returning(items_table.c.store)
        ).all()
        for (store,) in expired:
            gone[store] = gone.get(store, 0) + 1
        for name, config in memory.stores.items():
            if config.retention is None:
                continue
            old = conn.execute(
                delete(items_table).where(
                    items_table.c.store == name, items_table.c.created_at <= now - config.retention
                )
            ).rowcount
            if old:
                gone[name] = gone.get(name, 0) + int(old)
    return gone


def counts(memory: Memory) -> dict[str, dict[str, int]]:
    """Entries and bytes per store, expired ones included until they are swept."""
    with memory.transaction(read=True) as conn:
        rows = conn.execute(
            select(
                items_table.c.store, func.count(), func.coalesce(func.sum(items_table.c.bytes), 0)
            ).group_by(items_table.c.store)
        ).all()
    return {store: {"entries": int(n), "bytes": int(b)} for store, n, b in rows}


def scope_counts(
    memory: Memory, scope: str, stores: Sequence[str] | None = None
) -> dict[str, dict[str, int]]:
    """Entries and bytes under ``scope`` per store, expired ones included (what forget deletes)."""
    query = (
        select(items_table.c.store, func.count(), func.coalesce(func.sum(items_table.c.bytes), 0))
        .where(items_table.c.scope == scope)
        .group_by(items_table.c.store)
    )
    if stores:
        query = query.where(items_table.c.store.in_(list(stores)))
    with memory.transaction(read=True) as conn:
        rows = conn.execute(query).all()
    return {store: {"entries": int(n), "bytes": int(b)} for store, n, b in rows}


def drop_store(memory: Memory, store: str) -> int:
    """Delete every entry of ``store`` (its resource was destroyed with --allow-data-loss)."""
    with memory.transaction() as conn:
        return int(
            conn.execute(delete(items_table).where(items_table.c.store == store)).rowcount or 0
        )


def forget_subject(
    memory: Memory, scope: str, stores: Iterable[str] | None = None
) -> dict[str, int]:
    """Delete everything kept under one scope key (``user:alice``) in every store (or those
    named): the answer to a privacy request. Session turns and shared keys included."""
    try:
        validate_scope(scope)
    except InvalidScope as exc:
        raise MemoryStoreError(str(exc)) from None
    query = delete(items_table).where(items_table.c.scope == scope)
    names = list(stores) if stores is not None else None
    if names is not None:
        query = query.where(items_table.c.store.in_(names))
    with memory.transaction() as conn:
        rows = conn.execute(query.returning(items_table.c.store)).all()
    gone: dict[str, int] = {}
    for (store,) in rows:
        gone[store] = gone.get(store, 0) + 1
    return gone


def export_rows(
    memory: Memory, store: str | None = None, scope: str | None = None
) -> Iterator[dict[str, Any]]:
    """Every live entry (of one store, one scope key), oldest first, as plain values."""
    now = memory.clock()
    query = select(*items_table.c).where(
        or_(items_table.c.expires_at.is_(None), items_table.c.expires_at > now)
    )
    if store is not None:
        query = query.where(items_table.c.store == store)
    if scope is not None:
        query = query.where(items_table.c.scope == scope)
    last = 0
    while True:  # in pages: an export of millions of entries does not hold them all
        with memory.transaction(read=True) as conn:
            page = conn.execute(
                query.where(items_table.c.id > last).order_by(items_table.c.id).limit(1000)
            ).all()
        if not page:
            return
        for row in page:
            entry = entry_from_row(row)
            last = entry.id
            data = entry.to_dict()
            yield {k: data[k] for k in EXPORT_FIELDS}


def _check_line(number: int, data: Any, memory: Memory, into: str | None) -> dict[str, Any]:
    where = f"line {number}"
    if not isinstance(data, Mapping):
        raise ImportError_(f"{where}: expected a JSON object (an exported entry)")
    store = into or data.get("store")
    if not isinstance(store, str) or store not in memory.stores:
        known = ", ".join(sorted(memory.stores)) or "none"
        raise ImportError_(f"{where}: store {store!r} is not in the spec (stores: {known})")
    config = memory.stores[store]
    if data.get("kind", config.kind) != config.kind:
        raise ImportError_(
            f"{where}: a {data.get('kind')} entry cannot go into {config.kind} store {store!r}"
        )
    scope = data.get("scope")
    if not isinstance(scope, str):
        raise ImportError_(f"{where}: 'scope' must be a string")
    try:
        validate_scope(scope)
    except InvalidScope as exc:
        raise ImportError_(f"{where}: {exc}") from None
    body = data.get("text")
    if not isinstance(body, str):
        raise ImportError_(f"{where}: 'text' must be a string")
    key = data.get("key")
    if key is not None and not isinstance(key, str):
        raise ImportError_(f"{where}: 'key' must be a string or null")
    role = data.get("role")
    if role is not None and role not in ("user", "assistant", "summary"):
        raise ImportError_(f"{where}: 'role' must be user, assistant, summary or null")
    meta = data.get("meta") or {}
    if not isinstance(meta, Mapping):
        raise ImportError_(f"{where}: 'meta' must be an object")
    return {
        "store": store,
        "kind": config.kind,
        "scope": scope,
        "key": key,
        "text": body,
        "value": data.get("value"),
        "role": role,
        "agent": data.get("agent"),
        "meta": dict(meta),
        "id": data.get("id"),
        "created_at": _number(data.get("created_at")),
        "updated_at": _number(data.get("updated_at")),
    }


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def import_rows(memory: Memory, lines: Iterable[str], *, into: str | None = None) -> dict[str, int]:
    """Import exported entries (JSONL); every line is checked before anything is written.

    Returns ``{"imported": n, "skipped": m}``; entries already present are skipped.
    """
    checked: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise ImportError_(f"line {number}: not JSON ({exc})") from None
        checked.append(_check_line(number, data, memory, into))
    imported = skipped = 0
    for row in checked:
        origin = f"import:{row['store']}:{row['id']}" if row["id"] is not None else None
        if _present(memory, row, origin):
            skipped += 1
            continue
        if row["kind"] == "shared" and row["key"] is not None:
            memory.put(
                row["store"],
                row["scope"],
                row["key"],
                row["value"],
                expected_version=None,
                agent=row["agent"],
                idem=origin,
            )
        else:
            memory.add(
                row["store"],
                row["scope"],
                row["text"],
                key=row["key"],
                role=row["role"],
                meta=row["meta"],
                idem=origin,
            )
        _restore(memory, row, origin)
        imported += 1
    return {"imported": imported, "skipped": skipped}


def _present(memory: Memory, row: Mapping[str, Any], origin: str | None) -> bool:
    with memory.transaction(read=True) as conn:
        if origin is not None:
            found = conn.execute(
                select(items_table.c.id).where(
                    items_table.c.store == row["store"], items_table.c.idem == origin
                )
            ).first()
            if found is not None:
                return True
        if row["key"] is None:
            return False
        found = conn.execute(
            select(items_table.c.id).where(
                and_(
                    items_table.c.store == row["store"],
                    items_table.c.scope == row["scope"],
                    items_table.c.key == row["key"],
                )
            )
        ).first()
        return found is not None


def _restore(memory: Memory, row: Mapping[str, Any], origin: str | None) -> None:
    """Give an imported entry back its writer and times (retention counts from creation)."""
    values = {k: row[k] for k in ("agent", "created_at", "updated_at") if row[k] is not None}
    if not values:
        return
    t = items_table.c
    if row["key"] is not None:
        which = and_(t.store == row["store"], t.scope == row["scope"], t.key == row["key"])
    elif origin is not None:
        which = and_(t.store == row["store"], t.idem == origin)
    else:
        return
    with memory.transaction() as conn:
        conn.execute(items_table.update().where(which).values(**values))


def denials(memory: Memory, limit: int = 50) -> list[dict[str, Any]]:
    """The most recent refused requests, newest first."""
    with memory.transaction(read=True) as conn:
        rows = conn.execute(
            select(*denials_table.c).order_by(denials_table.c.id.desc()).limit(limit)
        ).all()
    return [dict(r._mapping) for r in rows]


def embed_missing(memory: Memory, stores: Iterable[str], limit: int = 256) -> int:
    """Give up to ``limit`` entries of ``stores`` that have no embedding one (entries written
    before their store switched to semantic or hybrid search); returns how many were done."""
    names = list(stores)
    if not names:
        return 0
    t = items_table.c
    with memory.transaction(read=True) as conn:
        rows = conn.execute(
            select(t.id, t.text)
            .where(t.store.in_(names), t.embedding.is_(None))
            .order_by(t.id.desc())
            .limit(limit)
        ).all()
    if not rows:
        return 0
    vectors = memory.embedder().embed([text for _, text in rows])
    with memory.transaction() as conn:
        for (row_id, _), vector in zip(rows, vectors, strict=True):
            # an entry rewritten meanwhile got its own vector: leave that one
            conn.execute(
                items_table.update()
                .where(t.id == row_id, t.embedding.is_(None))
                .values(embedding=vector)
            )
    return len(rows)
