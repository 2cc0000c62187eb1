"""Bringing a runtime store's memory schema up to date: Alembic migrations, run by ``apply``.

:func:`upgrade` runs every pending migration of :mod:`agentform.runtime.store.memory.migrations` in
**one transaction** (PostgreSQL and SQLite both run DDL transactionally; agentform's SQLite
engines emit ``BEGIN IMMEDIATE`` themselves), so a migration interrupted midway (a crash, a
killed process, a failing statement) leaves the schema exactly as it was, and the next run starts
over. Two upgrades at once queue: on PostgreSQL behind an advisory transaction lock, on SQLite
behind the write lock taken at ``BEGIN``. The version is kept in ``agentform_memory_version``,
apart from any Alembic table of the user's own. Called by the engine when ``apply`` creates or
updates a ``memory.*`` resource, and by the ``agentform memory`` commands before they read.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD", "MIGRATIONS", "VERSION_TABLE", "current", "head", "upgrade"]

# the newest migration (a test holds it equal to what Alembic finds): workers check the schema
# against it without importing Alembic, which keeps their start (and crash recovery) fast
HEAD = "m0003"

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "agentform_memory_version"
_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"agentform-memory:migrations").digest()[:8], "big", signed=True
)


def _config(location: Path) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(location))
    return cfg


def head(location: Path = MIGRATIONS) -> str | None:
    """The newest revision in ``location``, as Alembic finds it."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config(location)).get_current_head()


def current(engine: Engine) -> str | None:
    """The revision the database is at (``None``: no memory schema yet)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        found = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
        return str(found) if found is not None else None


def upgrade(engine: Engine, *, location: Path = MIGRATIONS) -> tuple[str | None, str | None]:
    """Run the pending migrations; returns (revision before, revision after).

    Raises SQLAlchemy's errors (the database is unreachable, a statement failed); nothing of a
    failed upgrade is kept.
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    cfg = _config(location)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        before = MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE}
        ).get_current_revision()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        after = MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE}
        ).get_current_revision()
    return before, after
