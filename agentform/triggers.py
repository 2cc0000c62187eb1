"""A schedule's trigger: when it fires, and what it does about the fires it missed.

Owns turning a :class:`~agentform.contract.values.Schedule` into an APScheduler 3 trigger (a
cron expression with crontab's meaning, :mod:`agentform.cron`, in the schedule's timezone, or a
fixed interval), the next fire times plan shows, and the misfire options ``catch_up`` stands
for (:class:`Misfires`):

=========  ==========================================================================
``none``   fires missed by more than :data:`ON_TIME` are skipped: none is made up
``one``    the missed fires collapse into one, run as soon as an engine leads again
``all``    every missed fire runs, one after the other, oldest first
=========  ==========================================================================

Pure: the time is always an argument, nothing here reads the clock or does I/O. Used by plan's
rendering (:mod:`agentform.render`) and the engine's scheduler
(:mod:`agentform.runtime.scheduler`), which must agree on every fire time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from agentform.contract.values import Schedule
from agentform.cron import to_apscheduler

__all__ = ["ON_TIME", "Misfires", "OnceADay", "fire_times", "misfires", "trigger", "upcoming"]

# a fire later than this is a missed one: the engine's loop may be that late on a loaded machine
ON_TIME = 1


@dataclass(frozen=True, slots=True)
class Misfires:
    """APScheduler's job options for a ``catch_up``: ``coalesce`` runs one fire for many,
    ``grace`` is how late (seconds) a fire may still run, None for however late."""

    coalesce: bool
    grace: int | None


_MISFIRES = {
    "none": Misfires(coalesce=True, grace=ON_TIME),
    "one": Misfires(coalesce=True, grace=None),
    "all": Misfires(coalesce=False, grace=None),
}


def misfires(catch_up: str) -> Misfires:
    return _MISFIRES[catch_up]


class OnceADay(CronTrigger):  # type: ignore[misc]  # APScheduler 3 has no types
    """A cron trigger that fires a wall-clock time once, as cron does, when the clocks go back.

    On the night the clocks go back an hour repeats (02:30 happens at 00:30 and 01:30 UTC in
    Europe/Berlin); APScheduler fires a daily ``30 2 * * *`` at both. With its hours named (not
    ``*``), a fire at the same local time as the one before is skipped. An hourly cron keeps both:
    two real hours passed. On the night the clocks go forward, a time that does not exist
    (02:30) fires once, an hour later by the wall clock, as APScheduler does.
    """

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        found: datetime | None = super().get_next_fire_time(previous_fire_time, now)
        hours = str(self.fields[5])
        if found is None or previous_fire_time is None or hours == "*":
            return found
        wall = previous_fire_time.astimezone(self.timezone).replace(tzinfo=None, fold=0)
        if found.replace(tzinfo=None, fold=0) == wall:  # the repeated hour: fired already
            after = found.astimezone(UTC) + timedelta(microseconds=1)
            found = super().get_next_fire_time(found, after)
        return found


def trigger(schedule: Schedule, *, start: datetime | None = None) -> BaseTrigger:
    """The schedule's trigger; an interval counts from ``start`` (default: when it is added).

    Raises ``ValueError`` for a schedule with neither cron nor interval (the spec's checks
    refuse those before they get here)."""
    zone = ZoneInfo(schedule.timezone)
    if schedule.cron:
        return OnceADay.from_crontab(to_apscheduler(schedule.cron), timezone=zone)
    if schedule.interval is not None:
        return IntervalTrigger(
            seconds=schedule.interval.total_seconds(), start_date=start, timezone=zone
        )
    raise ValueError("a schedule needs a cron expression or an interval")


def fire_times(schedule: Schedule, now: datetime, count: int = 3) -> list[datetime]:
    """The next ``count`` fire times after ``now`` (aware), in the schedule's timezone; fewer
    when there are none (a cron that never fires, ``0 0 30 2 *``, has none)."""
    if not schedule.cron and schedule.interval is not None:  # counted from now
        zone = ZoneInfo(schedule.timezone)
        return [(now + schedule.interval * k).astimezone(zone) for k in range(1, count + 1)]
    cron = trigger(schedule)
    out: list[datetime] = []
    previous: datetime | None = None
    moment = now
    while len(out) < count:
        found = cron.get_next_fire_time(previous, moment)
        if found is None:
            break
        out.append(found)
        previous, moment = found, found.astimezone(UTC) + timedelta(microseconds=1)
    return out


def upcoming(values: Mapping[str, Any], now: datetime, count: int = 3) -> str | None:
    """What plan says of a schedule it creates or changes (its values as planning sent them):
    its next fire times, or why there are none; None for values that are not a schedule."""
    try:
        schedule = Schedule.model_validate(
            {k: v for k, v in values.items() if k in Schedule.model_fields}
        )
        times = fire_times(schedule, now, count)
    except ValueError:
        return None
    if not schedule.enabled:
        return "disabled (enabled: false): fires nothing"
    if not times:
        return "never fires: no date matches its cron expression"
    shown = ", ".join(t.strftime("%Y-%m-%d %H:%M:%S %Z") for t in times)
    return f"next fires: {shown}"
