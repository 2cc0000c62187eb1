"""Durations written as ``30s``, ``5m``, ``1h30m``, ``30d``: parsing, printing, pydantic type.

A duration is always a string with units in the spec (a bare number would be ambiguous between
seconds and milliseconds), parsed into :class:`datetime.timedelta`. Used by the spec models for
timeouts, TTLs, retention and intervals.
"""

from __future__ import annotations

import functools
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

__all__ = ["DURATION_PATTERN", "Duration", "format_duration", "parse_duration"]

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION_PATTERN = r"^([0-9]+(ms|s|m|h|d|w))+$"
_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w)")
_WHOLE = re.compile(DURATION_PATTERN)
_MAX = timedelta(days=36500)


@functools.lru_cache(maxsize=4096)
def parse_duration(text: str) -> timedelta:
    """Parse ``"1h30m"`` into a timedelta; raise ``ValueError`` with a helpful message."""
    compact = text.strip()
    if not _WHOLE.match(compact):
        raise ValueError(
            f"invalid duration {text!r}: write a number followed by a unit "
            "(ms, s, m, h, d, w), for example 30s, 5m, 1h30m or 30d"
        )
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(compact))
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be longer than zero")
    if seconds > _MAX.total_seconds():
        raise ValueError(f"duration {text!r} is longer than 100 years")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest spec spelling of ``value`` (``timedelta(minutes=90)`` → ``"1h30m"``)."""
    ms = round(value.total_seconds() * 1000)
    parts: list[str] = []
    for unit, size in (("d", 86400000), ("h", 3600000), ("m", 60000), ("s", 1000), ("ms", 1)):
        count, ms = divmod(ms, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _validate(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(
            f"a duration must be a string with a unit such as '30s' or '5m', not {value!r}"
        )
    return parse_duration(value)


Duration = Annotated[
    timedelta,
    BeforeValidator(_validate),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration such as 30s, 5m, 1h30m, 30d.",
        }
    ),
]
