"""The schedules' run-time state, kept in the runtime store so every engine on it agrees.

This module owns the ``agentform_schedules`` table (one row per schedule that was paused or has
fired: whether an operator paused it, when it last fired, the task it submitted or the reason it
could not) and :class:`ScheduleBook`. Pausing is run-time state, not the spec's ``enabled``: it
survives a restart of the engine and a change of leader, and ``agentform schedules resume``
ends it. The jobs themselves (trigger, next fire time) are APScheduler's, in its own table of the
same database (:mod:`agentform.runtime.scheduler.jobs`). Used by the engine's scheduler.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, String, Table, Text, select

from agentform.runtime.store.records import StoreError
from agentform.runtime.store.tables import SideTable, utc

__all__ = ["ScheduleBook", "ScheduleState", "schedules_table"]

metadata = MetaData()
schedules_table = Table(
    "agentform_schedules",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("paused", Boolean, nullable=False, default=False),
    Column("paused_at", DateTime(timezone=True), nullable=True),
    Column("last_run_at", DateTime(timezone=True), nullable=True),
    Column("last_task_id", String(255), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("runs", Integer, nullable=False, default=0),
)


@dataclass(frozen=True, slots=True)
class ScheduleState:
    """One schedule's run-time state; ``last_error`` is why its last fire submitted nothing.
    ``paused_at`` stays after a resume until the leader has made up what was missed since."""

    name: str
    paused: bool = False
    paused_at: datetime | None = None
    last_run_at: datetime | None = None
    last_task_id: str | None = None
    last_error: str | None = None
    runs: int = 0


class ScheduleBook(SideTable):
    """The schedules' state in the runtime database at ``url``."""

    def __init__(self, url: str) -> None:
        super().__init__(url, metadata, StoreError, "schedules table")

    def states(self) -> dict[str, ScheduleState]:
        with self._begin() as conn:
            rows = conn.execute(select(schedules_table)).all()
        return {
            row.name: ScheduleState(
                row.name,
                bool(row.paused),
                utc(row.paused_at) if row.paused_at is not None else None,
                utc(row.last_run_at) if row.last_run_at is not None else None,
                row.last_task_id,
                row.last_error,
                int(row.runs or 0),
            )
            for row in rows
        }

    def state(self, name: str) -> ScheduleState:
        return self.states().get(name) or ScheduleState(name)

    def _upsert(self, name: str, **values: object) -> None:
        table = schedules_table
        with self._begin() as conn:
            found = conn.execute(select(table.c.name).where(table.c.name == name)).first()
            if found is None:
                conn.execute(
                    table.insert().values({"name": name, "paused": False, "runs": 0, **values})
                )
            else:
                conn.execute(table.update().where(table.c.name == name).values(**values))

    def set_paused(self, name: str, paused: bool) -> None:
        if paused:
            self._upsert(name, paused=True, paused_at=datetime.now(UTC))
        else:  # paused_at stays: the leader makes up the fires missed since (catch_up)
            self._upsert(name, paused=False)

    def caught_up(self, names: list[str]) -> None:
        """The leader resumed these schedules' jobs: their pauses are over."""
        if names:
            with self._begin() as conn:
                conn.execute(
                    schedules_table.update()
                    .where(schedules_table.c.name.in_(names))
                    .values(paused_at=None)
                )

    def fired(
        self, name: str, at: datetime, *, task_id: str | None, error: str | None = None
    ) -> None:
        """Record one fire: the task it submitted, or why it submitted none."""
        table = schedules_table
        self._upsert(name, last_run_at=at, last_task_id=task_id, last_error=error)
        with self._begin() as conn:
            conn.execute(table.update().where(table.c.name == name).values(runs=table.c.runs + 1))

    def forget(self, name: str) -> None:
        """A schedule removed from the spec: its state goes with it."""
        with self._begin() as conn:
            conn.execute(schedules_table.delete().where(schedules_table.c.name == name))
