"""APScheduler inside the engine: one job per schedule, kept in the runtime store.

Owns :class:`Jobs`: an ``AsyncIOScheduler`` on the engine's event loop whose job store is
APScheduler's ``SQLAlchemyJobStore`` on the runtime store's URL (table
``agentform_schedule_jobs``), so a job's next fire time outlives the engine and a new leader
continues where the last one stopped. Every engine starts it paused (to read next fire times);
only the leader (:mod:`.leader`) resumes it and writes jobs. A job's trigger and misfire options
come from :mod:`agentform.triggers` (``catch_up``); a job whose definition did not change is
kept as it is, so a restart or a new leader does not move its next fire time.

APScheduler keeps a job's function by reference: :func:`fire` hands the fire to the handler the
engine of this process registered for its project.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

from apscheduler.job import Job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_RUNNING

from agentform.contract.values import Schedule
from agentform.runtime.store.schedules import ScheduleState
from agentform.triggers import misfires, trigger

__all__ = ["TABLE", "Jobs", "definition", "fire"]

log = logging.getLogger("agentform.engine")

TABLE = "agentform_schedule_jobs"
Handler = Callable[[str], Awaitable[None]]
_HANDLERS: dict[str, Handler] = {}  # project -> the handler of this process's engine


async def fire(project: str, name: str, definition: str = "") -> None:
    """The function every job runs (APScheduler stores it as ``module:fire``)."""
    handler = _HANDLERS.get(project)
    if handler is None:
        log.warning("schedule %s fired in a process that runs no engine for %s", name, project)
        return
    await handler(name)


def definition(schedule: Schedule) -> str:
    """What a job is made of: a change re-creates the job (and moves its next fire time)."""
    body = {
        "cron": schedule.cron,
        "interval": schedule.interval.total_seconds() if schedule.interval else None,
        "timezone": schedule.timezone,
        "catch_up": schedule.catch_up,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


class Jobs:
    """The schedules' jobs in the runtime store at ``url``; ``handler`` fires one by name."""

    def __init__(self, url: str, project: str, handler: Handler) -> None:
        self.project = project
        self.store = SQLAlchemyJobStore(url=url, tablename=TABLE)
        self.scheduler = AsyncIOScheduler(jobstores={"default": self.store}, timezone=UTC)
        _HANDLERS[project] = handler

    def start(self) -> None:
        """Open the job store (its table made when missing), paused: nothing fires yet."""
        self.scheduler.start(paused=True)

    def lead(self) -> None:
        if self.scheduler.state != STATE_RUNNING:
            self.scheduler.resume()

    def follow(self) -> None:
        if self.scheduler.state == STATE_RUNNING:
            self.scheduler.pause()

    def close(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.store.engine.dispose()

    def job(self, name: str) -> Job | None:
        job: Job | None = self.scheduler.get_job(name)
        return job

    def next_run(self, name: str) -> datetime | None:
        job = self.job(name)
        found: datetime | None = job.next_run_time if job is not None else None
        return found

    def sync(
        self, schedules: Mapping[str, Schedule], states: Mapping[str, ScheduleState], now: datetime
    ) -> list[str]:
        """Make the jobs what ``schedules`` declare and ``states`` pause (the leader alone calls
        this); returns the schedules whose pause ended here. A disabled or paused schedule's
        job stays, without a next fire time; when it resumes, the fires it missed since it was
        paused count as missed (``catch_up``)."""
        resumed = []
        for name, schedule in schedules.items():
            state = states.get(name)
            held = (state is not None and state.paused) or not schedule.enabled
            wanted = definition(schedule)
            job = self.job(name)
            if job is None or job.kwargs.get("definition") != wanted:
                self._add(name, schedule, wanted, held)
            elif held and job.next_run_time is not None:
                job.pause()
            elif not held and job.next_run_time is None:
                since = (state.paused_at if state is not None else None) or now
                job.modify(next_run_time=job.trigger.get_next_fire_time(None, since))
                resumed.append(name)
        for job in self.scheduler.get_jobs():
            if job.id not in schedules:
                self.remove(job.id)
        return resumed

    def _add(self, name: str, schedule: Schedule, wanted: str, held: bool) -> None:
        options = misfires(schedule.catch_up)
        extra = {"next_run_time": None} if held else {}
        self.scheduler.add_job(
            fire,
            trigger(schedule),
            args=(self.project, name),
            kwargs={"definition": wanted},
            id=name,
            name=f"schedule.{name}",
            replace_existing=True,
            coalesce=options.coalesce,
            misfire_grace_time=options.grace,
            max_instances=1,
            **extra,
        )

    def remove(self, name: str) -> None:
        with contextlib.suppress(JobLookupError):
            self.scheduler.remove_job(name)
