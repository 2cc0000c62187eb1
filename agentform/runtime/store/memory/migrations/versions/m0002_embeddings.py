"""Memory: an embedding per entry, for stores with semantic or hybrid search.

Revision ID: m0002
Revises: m0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "m0002"
down_revision = "m0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # normalised float32 vectors as bytes (BLOB on SQLite, bytea on PostgreSQL); NULL for
    # entries of full-text stores
    with op.batch_alter_table("agentform_memory_items") as batch:
        batch.add_column(sa.Column("embedding", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agentform_memory_items") as batch:
        batch.drop_column("embedding")
