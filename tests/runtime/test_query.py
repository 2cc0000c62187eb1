"""The control API's query parameters: read, or refused with a 400 that names the parameter."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.datastructures import QueryParams

from agentform.runtime.host.query import MAX_TEXT, Query, QueryError

ROUTE = ("agent", "status", "limit")
HUGE = "9" * 39  # what a refusal shows of a value 41 characters long


def read(query: str) -> dict[str, Any]:
    got = Query(QueryParams(query), *ROUTE)
    return {
        "agent": got.text("agent"),
        "status": got.choice("status", ["completed", "failed"]),
        "limit": got.number("limit", default=50, low=1, high=1000),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"agent": None, "status": None, "limit": 50}),
        ("agent=a&status=failed&limit=1000", {"agent": "a", "status": "failed", "limit": 1000}),
        ("agent=&status=&limit=", {"agent": None, "status": None, "limit": 50}),
        ("limit=007", {"agent": None, "status": None, "limit": 7}),
        (f"agent={'a' * MAX_TEXT}", {"agent": "a" * MAX_TEXT, "status": None, "limit": 50}),
    ],
    ids=["nothing", "everything", "empty-is-absent", "leading-zeros", "longest-text"],
)  # fmt: skip
def test_what_a_route_takes(query: str, expected: dict[str, Any]) -> None:
    assert read(query) == expected


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("limit=-1", "limit must be a whole number from 1 to 1,000, not '-1'"),
        ("limit=0", "limit must be a whole number from 1 to 1,000, not '0'"),
        ("limit=1001", "limit must be a whole number from 1 to 1,000, not '1001'"),
        ("limit=abc", "limit must be a whole number from 1 to 1,000, not 'abc'"),
        ("limit=%2B5", "limit must be a whole number from 1 to 1,000, not '+5'"),
        ("limit=%205", "limit must be a whole number from 1 to 1,000, not ' 5'"),
        ("limit=1_0", "limit must be a whole number from 1 to 1,000, not '1_0'"),
        ("limit=%D9%A5", "limit must be a whole number from 1 to 1,000, not '٥'"),
        ("limit=1e3", "limit must be a whole number from 1 to 1,000, not '1e3'"),
        ("limit=" + "9" * 41, f"limit must be a whole number from 1 to 1,000, not '{HUGE}…'"),
        ("status=bogus", "status must be one of completed, failed, not 'bogus'"),
        (f"agent={'a' * (MAX_TEXT + 1)}", f"agent must be at most {MAX_TEXT} characters, not 201"),
        ("limt=5", "unknown query parameter 'limt'; this route takes: agent, status, limit"),
        ("limit=1&limit=2", "query parameter 'limit' is given more than once"),
    ],
    ids=[
        "negative", "zero", "over", "not-a-number", "plus-sign", "space", "underscore",
        "other-script-digit", "exponent", "huge", "unknown-status", "too-long", "unknown-name",
        "repeated",
    ],
)  # fmt: skip
def test_what_a_route_refuses(query: str, says: str) -> None:
    with pytest.raises(QueryError) as refused:
        read(query)
    assert str(refused.value) == says
    assert refused.value.status == 400


def test_a_route_that_takes_nothing_refuses_everything() -> None:
    with pytest.raises(QueryError, match="this route takes: none"):
        Query(QueryParams("x=1"))
