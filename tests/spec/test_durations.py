"""Durations: parse, print, and the pydantic type's errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentform.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h30m", 5400),
        ("30d", 2592000),
        ("2w", 1209600),
        ("250ms", 0.25),
        (" 10s ", 10),
    ],
    ids=["seconds", "minutes", "compound", "days", "weeks", "millis", "padded"],
)
def test_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text",
    ["5 minutes", "", "10", "1.5h", "-5s", "0s", "5y", "m5", "99999999d"],
    ids=[
        "words",
        "empty",
        "no-unit",
        "fraction",
        "negative",
        "zero",
        "unknown-unit",
        "unit-first",
        "too-long",
    ],
)
def test_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(st.integers(min_value=1, max_value=10**9))
def test_format_round_trips(ms: int) -> None:
    value = timedelta(milliseconds=ms)
    assert parse_duration(format_duration(value)) == value


def test_format_prefers_days_over_weeks() -> None:
    assert format_duration(timedelta(days=30)) == "30d"
    assert format_duration(timedelta(minutes=90)) == "1h30m"
