"""The scheduler's jobs in a real runtime store: catch_up after downtime, pauses, a kept job.

Each test opens :class:`~agentform.runtime.scheduler.jobs.Jobs` on a SQLite file and on a
PostgreSQL database (``runtime_url``), as a leading engine does, then closes it and opens it
again, as the next leader does after downtime.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from agentform.contract.values import Schedule
from agentform.runtime.scheduler.jobs import Jobs
from agentform.runtime.store.schedules import ScheduleBook, ScheduleState
from agentform.triggers import trigger


def _jobs(url: str, project: str, fired: list[str]) -> Jobs:
    async def handler(name: str) -> None:
        fired.append(name)

    jobs = Jobs(url, project, handler)
    jobs.start()
    return jobs


@pytest.mark.parametrize(
    ("catch_up", "fires"), [("none", 0), ("one", 1), ("all", 4)], ids=["none", "one", "all"]
)
def test_fires_missed_during_downtime_follow_catch_up(
    runtime_url: str, catch_up: str, fires: int
) -> None:
    schedule = Schedule(agent="a", interval="10s", catch_up=catch_up)  # type: ignore[arg-type]
    project = f"p{uuid.uuid4().hex[:8]}"

    async def main() -> tuple[list[str], datetime | None]:
        fired: list[str] = []
        now = datetime.now(UTC)
        first = _jobs(runtime_url, project, fired)
        first.sync({"report": schedule}, {}, now)
        # the engine stopped 35 s ago, when the next fire was due: fires at -35, -25, -15 and
        # -5 s were missed while no engine ran
        job = first.job("report")
        assert job is not None
        job.modify(next_run_time=now - timedelta(seconds=35))
        first.close()
        second = _jobs(runtime_url, project, fired)
        try:
            # the next leader finds the job unchanged in the store: it keeps its fire time
            second.sync({"report": schedule}, {}, datetime.now(UTC))
            second.lead()
            await asyncio.sleep(1.5)
            return fired, second.next_run(name="report")
        finally:
            second.close()

    fired, upcoming = asyncio.run(main())
    assert fired == ["report"] * fires
    assert upcoming is not None and upcoming > datetime.now(UTC)  # the next one is still due


def test_a_paused_schedule_has_no_next_fire_and_makes_up_one_when_resumed(
    runtime_url: str,
) -> None:
    schedule = Schedule(agent="a", interval="10s")  # catch_up: one
    project = f"p{uuid.uuid4().hex[:8]}"

    async def main() -> tuple[datetime | None, list[str], list[str]]:
        fired: list[str] = []
        book = ScheduleBook(runtime_url)
        jobs = _jobs(runtime_url, project, fired)
        try:
            now = datetime.now(UTC)
            jobs.sync({"report": schedule}, {}, now)
            # its interval counted from a minute ago: fires at -60, -50, ... -10, 0, +10 s
            jobs.scheduler.reschedule_job(
                "report", trigger=trigger(schedule, start=now - timedelta(seconds=60))
            )
            jobs.lead()
            book.set_paused("report", True)
            assert jobs.sync({"report": schedule}, book.states(), datetime.now(UTC)) == []
            while_paused = jobs.next_run("report")
            # paused 25 s ago (fires at -20 and -10 s missed), resumed now: one is made up
            state = book.state("report")
            earlier = ScheduleState(
                "report", paused=False, paused_at=datetime.now(UTC) - timedelta(seconds=25)
            )
            assert state.paused and state.paused_at is not None
            resumed = jobs.sync({"report": schedule}, {"report": earlier}, datetime.now(UTC))
            await asyncio.sleep(1.0)
            return while_paused, resumed, fired
        finally:
            jobs.close()
            book.close()

    while_paused, resumed, fired = asyncio.run(main())
    assert while_paused is None
    assert resumed == ["report"]
    assert fired == ["report"]


def test_a_changed_schedule_replaces_its_job_and_a_removed_one_goes(runtime_url: str) -> None:
    project = f"p{uuid.uuid4().hex[:8]}"

    async def main() -> tuple[str | None, str | None, bool]:
        jobs = _jobs(runtime_url, project, [])
        try:
            jobs.sync({"report": Schedule(agent="a", interval="1h")}, {}, datetime.now(UTC))
            before = jobs.job("report")
            jobs.sync({"report": Schedule(agent="a", cron="0 9 * * *")}, {}, datetime.now(UTC))
            after = jobs.job("report")
            jobs.sync({}, {}, datetime.now(UTC))
            return (
                type(before.trigger).__name__ if before else None,
                type(after.trigger).__name__ if after else None,
                jobs.job("report") is None,
            )
        finally:
            jobs.close()

    assert asyncio.run(main()) == ("IntervalTrigger", "OnceADay", True)
