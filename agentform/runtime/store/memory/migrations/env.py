"""Alembic environment: always run from code, on the connection the caller hands over."""

from __future__ import annotations

from alembic import context

from agentform.runtime.store.memory.tables import metadata

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table="agentform_memory_version",
    # the caller runs every pending migration in its one transaction (SQLite included:
    # agentform's engines emit BEGIN themselves), so an interrupted upgrade leaves nothing
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
