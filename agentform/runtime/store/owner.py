"""Which project a runtime store belongs to: one project a database, claimed by its first engine.

The runtime store's tables are the project's alone: tasks, steps, approvals, circuit breakers and
rate counters are keyed by agent, schedules and their jobs by name, and the engine holding the
scheduler lease makes the jobs table what *its* spec declares (it removes the others). Two
projects pointing ``runtime.store.url`` at one database would mix all of these: one project's
leader would delete the other's schedules and fire them for nobody, and agents of the same name
would share breakers and limits. So the first engine to open a store writes its project into
``agentform_runtime_owner`` (one row), and an engine of another project refuses the store with
what to do, before it writes anything. Engines of the *same* project share a store on purpose
(several engines, one of them firing schedules: :mod:`agentform.runtime.scheduler.leader`).

The state backend (``agentform_state``) is keyed by project and environment and may be shared;
this table is only for the runtime store. Used by :class:`agentform.runtime.host.engine.Engine`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, insert, select
from sqlalchemy.exc import IntegrityError

from agentform.runtime.store.records import StoreError
from agentform.runtime.store.tables import SideTable, utc

__all__ = ["Owner", "StoreOwner", "WrongProject", "claim_store", "owner_table"]

metadata = MetaData()
owner_table = Table(
    "agentform_runtime_owner",
    metadata,
    Column("id", Integer, primary_key=True),  # always 1: one owner a database
    Column("project", String(255), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    Column("claimed_from", String(1024), nullable=False),  # the first engine's project directory
)


class WrongProject(StoreError):
    """The runtime store belongs to another project."""


@dataclass(frozen=True, slots=True)
class Owner:
    project: str
    claimed_at: datetime
    claimed_from: str


class StoreOwner(SideTable):
    """The owner row of the runtime database at ``url``."""

    def __init__(self, url: str) -> None:
        super().__init__(url, metadata, StoreError, "runtime store's owner table")

    def owner(self) -> Owner | None:
        with self._begin() as conn:
            row = conn.execute(select(owner_table).where(owner_table.c.id == 1)).first()
        if row is None:
            return None
        return Owner(row.project, utc(row.claimed_at), row.claimed_from)

    def claim(self, project: str, directory: str) -> Owner:
        """Make ``project`` the store's owner when it has none; the owner. Raises
        :class:`WrongProject` naming the owner and what to do when it is another project."""
        found = self.owner()
        if found is None:
            try:
                with self._begin() as conn:
                    conn.execute(
                        insert(owner_table).values(
                            id=1,
                            project=project,
                            claimed_at=datetime.now(UTC),
                            claimed_from=directory,
                        )
                    )
            except StoreError as exc:
                # another engine claimed it at the same moment: its claim stands
                if not isinstance(exc.__context__, IntegrityError):
                    raise
            found = self.owner()
            assert found is not None
        if found.project != project:
            shown = "" if self._engine is None else self._engine.url.render_as_string(True)
            raise WrongProject(
                f"the runtime store {shown} belongs to project {found.project!r} (first used"
                f" from {found.claimed_from} on {found.claimed_at:%Y-%m-%d %H:%M} UTC), not to"
                f" {project!r}: the tasks, schedules, approvals and circuit breakers of two"
                " projects would mix there. Give this project (or this environment) a database"
                " of its own in runtime.store.url (another SQLite file, or another PostgreSQL"
                " database); if"
                f" {found.project!r} was this project's name before, name it so again"
            )
        return found


def claim_store(url: str, project: str, directory: str) -> Owner:
    """:meth:`StoreOwner.claim` on the database at ``url``, opened for it and closed after."""
    book = StoreOwner(url)
    try:
        return book.claim(project, directory)
    finally:
        book.close()
