"""Memory: full-text search on SQLite starts from the scope key.

Revision ID: m0003
Revises: m0002

The FTS5 table of m0001 indexed only the text, so a recall for one customer matched the words in
every customer's entries, ranked them all, and only then kept that customer's: the cost grew
with the whole store (p99 37 ms at 100,000 entries). The table now indexes the scope key as a
second column, so FTS5 intersects the customer's short list with the words'
(``benchmarks/README.md``, "Memory recall"). PostgreSQL needs nothing: its plan already starts
from the ``(store, scope, key)`` index.
"""

from __future__ import annotations

from alembic import op

revision = "m0003"
down_revision = "m0002"
branch_labels = None
depends_on = None

_TRIGGERS = ("ai", "ad", "au")


def _drop() -> None:
    for trigger in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS agentform_memory_fts_{trigger}")
    op.execute("DROP TABLE IF EXISTS agentform_memory_fts")


def _create(columns: tuple[str, ...]) -> None:
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    op.execute(
        f"CREATE VIRTUAL TABLE agentform_memory_fts USING fts5({cols},"
        " content='agentform_memory_items', content_rowid='id',"
        " tokenize='porter unicode61')"
    )
    op.execute(
        "CREATE TRIGGER agentform_memory_fts_ai AFTER INSERT ON agentform_memory_items BEGIN"
        f" INSERT INTO agentform_memory_fts(rowid, {cols}) VALUES (new.id, {new}); END"
    )
    op.execute(
        "CREATE TRIGGER agentform_memory_fts_ad AFTER DELETE ON agentform_memory_items BEGIN"
        f" INSERT INTO agentform_memory_fts(agentform_memory_fts, rowid, {cols})"
        f" VALUES ('delete', old.id, {old}); END"
    )
    op.execute(
        f"CREATE TRIGGER agentform_memory_fts_au AFTER UPDATE OF {cols} ON"
        " agentform_memory_items BEGIN"
        f" INSERT INTO agentform_memory_fts(agentform_memory_fts, rowid, {cols})"
        f" VALUES ('delete', old.id, {old});"
        f" INSERT INTO agentform_memory_fts(rowid, {cols}) VALUES (new.id, {new}); END"
    )
    # index what is already there
    op.execute("INSERT INTO agentform_memory_fts(agentform_memory_fts) VALUES ('rebuild')")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _drop()
    _create(("text", "scope"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _drop()
    _create(("text",))
