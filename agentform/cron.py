"""Cron expressions with classic crontab meaning, checked and translated for APScheduler.

In crontab, and so in every team's head, day-of-week 0 and 7 are Sunday and 1 is Monday;
APScheduler 3 counts 0 as Monday. Taking a numeric day straight to APScheduler would run the
weekly report on the wrong day, so the day-of-week field is expanded here with crontab's meaning
into explicit names (``1-5`` → ``mon,tue,wed,thu,fri``) before APScheduler sees it. Names
(``MON-FRI``) mean the same in both. :func:`next_fire` tells validate whether a cron fires at
all. Used by the spec checks (validate) and, through
:mod:`agentform.triggers`, by plan and the engine's scheduler: outside ``spec`` because the
runtime may not import planning.
"""

from __future__ import annotations

import functools
from datetime import datetime

__all__ = ["HORIZON_YEARS", "CronError", "check_cron", "next_fire", "to_apscheduler"]

# how far validate looks for a cron's next fire (:func:`next_fire`): February 29 comes within
# 8 years (2100 is no leap year), so 10 years find every date a calendar has
HORIZON_YEARS = 10

_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


class CronError(ValueError):
    """The expression is not a valid five-field cron expression."""


def _day(token: str) -> int:
    lowered = token.lower()
    if lowered in _DAYS:
        return _DAYS.index(lowered)
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token) % 7
    raise CronError(
        f"invalid day of week {token!r}: use 0-7 (0 and 7 are Sunday) or "
        "sun, mon, tue, wed, thu, fri, sat"
    )


def _days_of_week(field: str) -> str:
    if field in ("*", "?"):
        return "*"
    chosen: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"invalid step {step_text!r} in day of week {field!r}")
            step = int(step_text)
        if base in ("*", "?"):
            first, last = 0, 6
        elif "-" in base:
            a, _, b = base.partition("-")
            first, last = _day(a), _day(b)
            if b == "7" or (b.lower() == "sun" and first > 0):
                last = 7  # "0-7", "5-7" and "fri-sun" run to Sunday
        else:
            first = last = _day(base)
            if step_text:
                last = 6
        if first > last:
            raise CronError(f"day-of-week range {base!r} runs backwards")
        chosen.update(d % 7 for d in range(first, last + 1, step))
    return ",".join(_DAYS[d] for d in sorted(chosen))


@functools.lru_cache(maxsize=4096)
def to_apscheduler(expression: str) -> str:
    """The expression rewritten so APScheduler's ``from_crontab`` reads it as crontab does."""
    text = _ALIASES.get(expression.strip().lower(), expression)
    fields = text.split()
    if len(fields) != 5:
        raise CronError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
    fields[4] = _days_of_week(fields[4])
    return " ".join(fields)


@functools.lru_cache(maxsize=4096)
def check_cron(expression: str, timezone: str) -> str | None:
    """``None`` if the expression and timezone are valid, else what is wrong."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(to_apscheduler(expression), timezone=timezone)
    except Exception as exc:  # apscheduler raises ValueError, zoneinfo its own errors
        return str(exc) or type(exc).__name__
    return None


def next_fire(expression: str, timezone: str, after: datetime) -> datetime | None:
    """When a valid expression fires next after ``after`` (timezone-aware), looking at most
    :data:`HORIZON_YEARS` ahead; ``None`` when it does not fire in that time: a date no year
    has (``0 0 30 2 *``), or a day of month and a day of week that do not meet for a decade
    (APScheduler requires both to match, where crontab fires when either does). Validate
    warns about those (AF221)."""
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab(to_apscheduler(expression), timezone=timezone)
    fire: datetime | None = trigger.get_next_fire_time(None, after)
    try:
        horizon = after.replace(year=after.year + HORIZON_YEARS)
    except ValueError:  # after is February 29
        horizon = after.replace(year=after.year + HORIZON_YEARS, day=28)
    return fire if fire is not None and fire <= horizon else None
