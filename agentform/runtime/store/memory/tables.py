"""The memory tables: every entry of every store, refusals, and applied idempotent operations.

One table holds the entries of all four kinds (``agentform_memory_items``): a session turn, a
long-term fact, a shared key, a task's working note are all rows with a ``store``, a ``scope``
key (``customer:acme``, ``conversation:<context>``, ``task:<id>``, ``agent:<name>``, ``global``),
text that is searched, an optional JSON ``value`` with a ``version`` for compare-and-set, a size,
and their times. One table means one place for export, import, forgetting a person, size caps and
expiry sweeps. ``agentform_memory_denials`` records refused requests; ``agentform_memory_ops``
the idempotency keys of counter updates so a replayed tool call never counts twice.

Full-text search needs dialect-specific objects (an FTS5 table with triggers on SQLite, a
generated ``tsvector`` column with a GIN index on PostgreSQL); they and every later change are
made by the Alembic migrations in :mod:`agentform.runtime.store.memory.migrations`, never by
``create_all``: these Table objects describe the schema for queries.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = ["FTS_TABLE", "denials_table", "items_table", "metadata", "ops_table"]

FTS_TABLE = "agentform_memory_fts"  # SQLite FTS5 (external content of the items table)

metadata = MetaData()
_id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite: INTEGER PRIMARY KEY is the rowid

items_table = Table(
    "agentform_memory_items",
    metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("store", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("scope", String(256), nullable=False),
    Column("key", String(256)),  # shared keys and named facts; NULL for turns and notes
    Column("agent", String(128)),  # who wrote it (a session turn: whose conversation)
    Column("role", String(16)),  # session turns: user, assistant, summary
    Column("text", Text, nullable=False),  # what is searched (a shared value: its JSON)
    Column("value", Text),  # shared: the JSON value
    Column("version", Integer, nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("expires_at", Float),
    Column("idem", String(255)),  # idempotency key of the tool call that wrote it
    Column("meta", Text),  # JSON object
    Column("embedding", LargeBinary),  # semantic stores: the normalised float32 vector (m0002)
    UniqueConstraint("store", "scope", "key", name="uq_agentform_memory_key"),
    UniqueConstraint("store", "idem", name="uq_agentform_memory_idem"),
    Index("ix_agentform_memory_scope", "store", "scope", "id"),
    Index("ix_agentform_memory_expires", "expires_at"),
    Index("ix_agentform_memory_created", "store", "created_at"),
)

denials_table = Table(
    "agentform_memory_denials",
    metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("store", String(128), nullable=False),
    Column("agent", String(128), nullable=False),
    Column("action", String(32), nullable=False),
    Column("scope", String(256), nullable=False),
    Column("reason", Text, nullable=False),
    Column("task_id", String(255)),
    Index("ix_agentform_memory_denials_at", "at"),
)

ops_table = Table(
    "agentform_memory_ops",
    metadata,
    Column("idem", String(255), primary_key=True),
    Column("store", String(128), nullable=False),
    Column("result", Text, nullable=False),  # JSON of what the operation returned
    Column("at", Float, nullable=False),
)
