"""Full-text search over memory entries: FTS5 with bm25 on SQLite, tsvector on PostgreSQL.

:func:`search_rows` owns turning what an agent or a person typed into a query the database
cannot choke on (words only, at most 32 of them, any of them may match: the ranking puts entries
that match more words, and rarer words, first) and ranking: on SQLite ``bm25()`` of the
``agentform_memory_fts`` table (made by the migrations, indexing the text and the scope key;
lower is better, so the score is its negation), on PostgreSQL ``ts_rank_cd`` over the generated
``tsv`` column with the ``english`` configuration. Scores are comparable within one search, not
across databases. Called by :meth:`agentform.runtime.store.memory.service.Memory.search`.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, text

from agentform.runtime.store.memory.tables import FTS_TABLE

__all__ = ["MAX_WORDS", "search_rows", "words"]

MAX_WORDS = 32
_WORD = re.compile(r"\w+", re.UNICODE)
_COLUMNS = (
    "i.id, i.store, i.kind, i.scope, i.key, i.agent, i.role, i.text, i.value, i.version,"
    " i.bytes, i.created_at, i.updated_at, i.expires_at, i.idem, i.meta"
)


def words(query: str) -> list[str]:
    """The distinct words of ``query``, lower-cased, in order, at most :data:`MAX_WORDS`."""
    seen: list[str] = []
    for found in _WORD.findall(query.lower()):
        word = found.strip("_")[:64]
        if word and word not in seen:
            seen.append(word)
        if len(seen) >= MAX_WORDS:
            break
    return seen


def search_rows(
    conn: Connection,
    store: str,
    query: str,
    *,
    scope: str | None,
    limit: int,
    now: float,
    created_after: float | None,
) -> list[tuple[Any, float]]:
    """Rows of ``store`` (one scope key, or all) matching ``query``, best first, with scores."""
    terms = words(query)
    if not terms:
        return []
    params: dict[str, Any] = {"store": store, "now": now, "limit": limit}
    where = ["i.store = :store", "(i.expires_at IS NULL OR i.expires_at > :now)"]
    if scope is not None:
        where.append("i.scope = :scope")
        params["scope"] = scope
    if created_after is not None:
        where.append("i.created_at > :after")
        params["after"] = created_after
    if conn.dialect.name == "sqlite":
        # the scope key is a second FTS5 column (migration m0003): matching it first makes FTS5
        # intersect one customer's short list with the words' instead of ranking every
        # customer's matches; it weighs nothing in the score, and i.scope = :scope keeps the
        # result exact (the phrase is tokenised, so it could match a longer key)
        words_ = " OR ".join('"' + t.replace('"', "") + '"' for t in terms)
        match = f"text : ({words_})"
        if scope is not None:
            match = 'scope : "' + scope.replace('"', '""') + '" AND ' + match
        params["match"] = match
        sql = (
            f"SELECT {_COLUMNS}, bm25({FTS_TABLE}, 1.0, 0.0) AS rank FROM {FTS_TABLE}"
            f" JOIN agentform_memory_items i ON i.id = {FTS_TABLE}.rowid"
            f" WHERE {FTS_TABLE} MATCH :match AND {' AND '.join(where)}"
            " ORDER BY rank LIMIT :limit"
        )
        rows = conn.execute(text(sql), params).all()
        return [(row, round(-float(row._mapping["rank"]), 6)) for row in rows]
    params["tsquery"] = " | ".join(terms)
    sql = (
        f"SELECT {_COLUMNS}, ts_rank_cd(i.tsv, q) AS rank"
        " FROM agentform_memory_items i, to_tsquery('english', :tsquery) q"
        f" WHERE i.tsv @@ q AND {' AND '.join(where)}"
        " ORDER BY rank DESC, i.id DESC LIMIT :limit"
    )
    rows = conn.execute(text(sql), params).all()
    return [(row, round(float(row._mapping["rank"]), 6)) for row in rows]
