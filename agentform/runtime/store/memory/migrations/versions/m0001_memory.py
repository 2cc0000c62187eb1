"""Memory: items, denials, idempotent operations, and full-text search.

Revision ID: m0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "m0001"
down_revision = None
branch_labels = None
depends_on = None

_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "agentform_memory_items",
        sa.Column("id", _id, primary_key=True, autoincrement=True),
        sa.Column("store", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(256), nullable=False),
        sa.Column("key", sa.String(256)),
        sa.Column("agent", sa.String(128)),
        sa.Column("role", sa.String(16)),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("value", sa.Text),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("bytes", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float),
        sa.Column("idem", sa.String(255)),
        sa.Column("meta", sa.Text),
        sa.UniqueConstraint("store", "scope", "key", name="uq_agentform_memory_key"),
        sa.UniqueConstraint("store", "idem", name="uq_agentform_memory_idem"),
    )
    op.create_index("ix_agentform_memory_scope", "agentform_memory_items", ["store", "scope", "id"])
    op.create_index("ix_agentform_memory_expires", "agentform_memory_items", ["expires_at"])
    op.create_index(
        "ix_agentform_memory_created", "agentform_memory_items", ["store", "created_at"]
    )
    op.create_table(
        "agentform_memory_denials",
        sa.Column("id", _id, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("store", sa.String(128), nullable=False),
        sa.Column("agent", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("scope", sa.String(256), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("task_id", sa.String(255)),
    )
    op.create_index("ix_agentform_memory_denials_at", "agentform_memory_denials", ["at"])
    op.create_table(
        "agentform_memory_ops",
        sa.Column("idem", sa.String(255), primary_key=True),
        sa.Column("store", sa.String(128), nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE agentform_memory_fts USING fts5(text,"
            " content='agentform_memory_items', content_rowid='id',"
            " tokenize='porter unicode61')"
        )
        op.execute(
            "CREATE TRIGGER agentform_memory_fts_ai AFTER INSERT ON agentform_memory_items BEGIN"
            " INSERT INTO agentform_memory_fts(rowid, text) VALUES (new.id, new.text); END"
        )
        op.execute(
            "CREATE TRIGGER agentform_memory_fts_ad AFTER DELETE ON agentform_memory_items BEGIN"
            " INSERT INTO agentform_memory_fts(agentform_memory_fts, rowid, text)"
            " VALUES ('delete', old.id, old.text); END"
        )
        op.execute(
            "CREATE TRIGGER agentform_memory_fts_au AFTER UPDATE OF text ON"
            " agentform_memory_items BEGIN"
            " INSERT INTO agentform_memory_fts(agentform_memory_fts, rowid, text)"
            " VALUES ('delete', old.id, old.text);"
            " INSERT INTO agentform_memory_fts(rowid, text) VALUES (new.id, new.text); END"
        )
    else:
        op.execute(
            "ALTER TABLE agentform_memory_items ADD COLUMN tsv tsvector GENERATED ALWAYS AS"
            " (to_tsvector('english', text)) STORED"
        )
        op.execute("CREATE INDEX ix_agentform_memory_tsv ON agentform_memory_items USING gin (tsv)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS agentform_memory_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS agentform_memory_fts")
    op.drop_table("agentform_memory_ops")
    op.drop_table("agentform_memory_denials")
    op.drop_table("agentform_memory_items")
