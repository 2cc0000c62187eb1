"""Schedules' triggers: fire times across DST in Europe/Berlin, clock jumps, intervals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentform.contract.values import Schedule
from agentform.triggers import ON_TIME, fire_times, misfires, trigger


def _utc(schedule: Schedule, start: datetime, count: int) -> list[str]:
    return [t.astimezone(UTC).strftime("%m-%d %H:%M") for t in fire_times(schedule, start, count)]


BERLIN = "Europe/Berlin"


@pytest.mark.parametrize(
    ("cron", "start", "expected"),
    [
        # 09:00 local stays 09:00: 08:00 UTC in winter time, 07:00 UTC from 29 March
        ("0 9 * * *", datetime(2026, 3, 28, tzinfo=UTC), ["03-28 08:00", "03-29 07:00"]),
        ("0 9 * * *", datetime(2026, 10, 24, tzinfo=UTC), ["10-24 07:00", "10-25 08:00"]),
        # 02:30 does not exist on 29 March (02:00 -> 03:00): it fires once, at 03:30 local
        (
            "30 2 * * *",
            datetime(2026, 3, 28, 12, tzinfo=UTC),
            ["03-29 01:30", "03-30 00:30", "03-31 00:30"],
        ),
        # 02:30 happens twice on 25 October (03:00 -> 02:00): a daily job fires once, as cron
        (
            "30 2 * * *",
            datetime(2026, 10, 24, 12, tzinfo=UTC),
            ["10-25 00:30", "10-26 01:30", "10-27 01:30"],
        ),
        # an hourly job fires every real hour through the repeated one
        (
            "0 * * * *",
            datetime(2026, 10, 24, 23, 30, tzinfo=UTC),
            ["10-25 00:00", "10-25 01:00", "10-25 02:00", "10-25 03:00"],
        ),
    ],
    ids=["spring-9am", "autumn-9am", "spring-gap", "autumn-repeat", "autumn-hourly"],
)
def test_cron_in_berlin_across_dst(cron: str, start: datetime, expected: list[str]) -> None:
    assert _utc(Schedule(agent="a", cron=cron, timezone=BERLIN), start, len(expected)) == expected


def test_the_engine_sees_the_same_fire_times_as_plan_one_fire_after_another() -> None:
    # the engine's scheduler asks the trigger for the next fire after the previous one, as
    # APScheduler does after each run: across the repeated hour it must not fire twice
    cron = trigger(Schedule(agent="a", cron="30 2 * * *", timezone=BERLIN))
    previous = cron.get_next_fire_time(None, datetime(2026, 10, 24, 12, tzinfo=UTC))
    fired = [previous]
    for _ in range(2):
        previous = cron.get_next_fire_time(previous, previous.astimezone(UTC))
        fired.append(previous)
    assert [f.astimezone(UTC).isoformat() for f in fired] == [
        "2026-10-25T00:30:00+00:00",
        "2026-10-26T01:30:00+00:00",
        "2026-10-27T01:30:00+00:00",
    ]


def test_a_clock_jump_forward_is_missed_fires_and_backward_repeats_none() -> None:
    cron = trigger(Schedule(agent="a", cron="0 * * * *"))
    fired = cron.get_next_fire_time(None, datetime(2026, 5, 1, 10, 0, 1, tzinfo=UTC))
    assert fired == datetime(2026, 5, 1, 11, tzinfo=UTC)
    # the clock jumps 3 h forward: the next fire APScheduler computes from the one it ran is
    # 12:00, three hours late, which the scheduler treats as missed (catch_up decides)
    late = datetime(2026, 5, 1, 14, 0, 30, tzinfo=UTC)
    assert cron.get_next_fire_time(fired, late) == datetime(2026, 5, 1, 12, tzinfo=UTC)
    # the next fire is computed when one fires, and kept as an instant (UTC) in the job store:
    # when the clock then jumps an hour back, nothing is due before 12:00 by the new clock,
    # so 11:00 does not fire again (the wait is an hour longer instead)
    upcoming = cron.get_next_fire_time(fired, fired)
    back = datetime(2026, 5, 1, 10, 0, 30, tzinfo=UTC)
    assert upcoming == datetime(2026, 5, 1, 12, tzinfo=UTC) and upcoming > back


def test_interval_fire_times_count_from_now_and_a_cron_that_never_fires_has_none() -> None:
    now = datetime(2026, 5, 1, 10, tzinfo=UTC)
    times = fire_times(Schedule(agent="a", interval="90m"), now, 2)
    assert [t - now for t in times] == [timedelta(minutes=90), timedelta(minutes=180)]
    assert fire_times(Schedule(agent="a", cron="0 0 30 2 *"), now) == []


@pytest.mark.parametrize(
    ("catch_up", "coalesce", "grace"),
    [("none", True, ON_TIME), ("one", True, None), ("all", False, None)],
    ids=["none", "one", "all"],
)
def test_catch_up_is_apschedulers_misfire_options(
    catch_up: str, coalesce: bool, grace: int | None
) -> None:
    found = misfires(catch_up)
    assert (found.coalesce, found.grace) == (coalesce, grace)


def test_plan_shows_the_next_fires_of_a_schedule_it_creates_or_changes() -> None:
    from agentform.plan import Action, Change, Plan
    from agentform.render import render_plan

    weekly = {"agent": "triage", "cron": "0 9 * * MON", "timezone": BERLIN, "secrets": {}}
    plan = Plan(
        project="desk",
        environment="default",
        lineage=None,
        serial=0,
        changes=(
            Change("schedule.weekly", Action.CREATE, None, weekly, reasons=("not in state",)),
            Change(
                "schedule.off",
                Action.UPDATE,
                {"agent": "triage", "interval": "1h"},
                {"agent": "triage", "interval": "1h", "enabled": False},
                changed=("enabled",),
            ),
            Change(
                "schedule.never",
                Action.CREATE,
                None,
                {"agent": "triage", "cron": "0 0 30 2 *"},
            ),
            Change("schedule.gone", Action.DELETE, {"agent": "triage", "interval": "1h"}, None),
        ),
    )
    now = datetime(2026, 3, 25, 12, tzinfo=UTC)  # a Wednesday; clocks go forward on Sunday
    shown = render_plan(plan, now=now)
    assert (
        "+ schedule.weekly  (create)\n    # not in state\n    # next fires: 2026-03-30 09:00:00"
        " CEST, 2026-04-06 09:00:00 CEST, 2026-04-13 09:00:00 CEST\n"
    ) in shown
    assert (
        "~ schedule.off  (update in place)\n    # disabled (enabled: false): fires nothing\n"
        in (shown)
    )
    assert "+ schedule.never  (create)\n    # never fires: no date matches" in shown
    assert "- schedule.gone  (destroy)\n\n" in shown
    assert "next fires" not in render_plan(plan)  # without the time, nothing to compute from
