"""Cron expressions keep crontab's meaning (0 and 7 are Sunday) when handed to APScheduler."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from agentform.cron import CronError, check_cron, next_fire, to_apscheduler


@pytest.mark.parametrize(
    ("expression", "translated"),
    [
        ("0 9 * * 1", "0 9 * * mon"),
        ("0 9 * * 1-5", "0 9 * * mon,tue,wed,thu,fri"),
        ("0 9 * * MON-FRI", "0 9 * * mon,tue,wed,thu,fri"),
        ("0 9 * * 0", "0 9 * * sun"),
        ("0 9 * * 7", "0 9 * * sun"),
        ("0 9 * * 0-7", "0 9 * * sun,mon,tue,wed,thu,fri,sat"),
        ("0 9 * * 5-7", "0 9 * * sun,fri,sat"),
        ("0 9 * * fri-sun", "0 9 * * sun,fri,sat"),
        ("0 9 * * */2", "0 9 * * sun,tue,thu,sat"),
        ("0 9 * * 1/3", "0 9 * * mon,thu"),
        ("*/15 8-18 * * *", "*/15 8-18 * * *"),
        ("@weekly", "0 0 * * sun"),
    ],
)
def test_translation(expression: str, translated: str) -> None:
    assert to_apscheduler(expression) == translated


def test_monday_means_monday() -> None:
    trigger = CronTrigger.from_crontab(to_apscheduler("0 9 * * 1"), timezone="UTC")
    # 2026-11-24 is a Tuesday: the next "day 1" run must be Monday 2026-11-30
    fire = trigger.get_next_fire_time(None, datetime(2026, 11, 24, tzinfo=ZoneInfo("UTC")))
    assert fire is not None and fire.date().isoformat() == "2026-11-30"


@pytest.mark.parametrize(
    "expression", ["0 9 * * 8", "0 9 * *", "0 9 * * 5-2", "0 9 * * */0", "0 9 * * funday"]
)
def test_invalid(expression: str) -> None:
    with pytest.raises(CronError):
        to_apscheduler(expression)
    assert check_cron(expression, "UTC") is not None


def test_invalid_fields_and_timezones() -> None:
    assert check_cron("61 9 * * *", "UTC") is not None
    assert check_cron("0 9 * * MON", "Mars/Olympus") is not None
    assert check_cron("0 9 * * MON", "Europe/Berlin") is None


@pytest.mark.parametrize(
    ("expression", "after", "fire"),
    [
        ("0 0 30 2 *", datetime(2026, 12, 6, tzinfo=UTC), None),
        ("0 0 29 2 *", datetime(2097, 3, 1, tzinfo=UTC), datetime(2104, 2, 29, tzinfo=UTC)),
        ("0 0 29 2 *", datetime(2028, 2, 29, 1, tzinfo=UTC), datetime(2032, 2, 29, tzinfo=UTC)),
        # both day fields must match in APScheduler: the 1st on a Monday, not within a year
        ("0 9 1 * MON", datetime(2026, 12, 6, tzinfo=UTC), datetime(2027, 2, 1, 9, tzinfo=UTC)),
    ],
    ids=["february-30", "no-leap-day-in-2100", "from-a-leap-day", "first-and-monday"],
)
def test_next_fire_looks_ten_years_ahead(
    expression: str, after: datetime, fire: datetime | None
) -> None:
    assert next_fire(expression, "UTC", after) == fire
