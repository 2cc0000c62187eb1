"""The state format: serial/lineage rules, corrupt bodies."""

from __future__ import annotations

import uuid

import pytest

from agentform.state import RecordedResource, StateCorrupt, StateSnapshot, empty
from agentform.state.snapshot import parse_body

AGENT = RecordedResource(kind="agent", name="triage", provider="local", id="a1", values={"x": 1})


def test_empty_mints_a_lineage_at_serial_zero() -> None:
    first, second = empty("demo", "dev"), empty("demo", "dev")
    assert first.serial == 0
    assert uuid.UUID(first.lineage).version == 4
    assert first.lineage != second.lineage


def test_next_keeps_lineage_and_counts_serial() -> None:
    base = empty("demo", "dev")
    one = base.next({"agent.triage": AGENT}, spec_revision="rev1", git_commit="abc")
    two = one.next()
    assert (one.serial, two.serial) == (1, 2)
    assert {one.lineage, two.lineage} == {base.lineage}
    assert two.resources == {"agent.triage": AGENT}
    assert (two.spec_revision, two.git_commit) == ("rev1", "abc")
    assert base.resources == {}


@pytest.mark.parametrize(
    ("snapshot", "summary"),
    [
        (empty("p", "e"), "0 resources"),
        (
            empty("p", "e").next({"a.b": AGENT}, spec_revision="0123456789abcdef"),
            "1 resource, spec 0123456789ab",
        ),
        (empty("p", "e").next({}, git_commit="c" * 40), "0 resources, commit cccccccccccc"),
    ],
    ids=["empty", "one-resource-with-revision", "commit"],
)
def test_summary(snapshot: StateSnapshot, summary: str) -> None:
    assert snapshot.summary() == summary


def test_round_trip_through_json() -> None:
    snapshot = empty("demo", "dev").next({"agent.triage": AGENT}, spec_revision="r")
    assert parse_body(snapshot.model_dump_json(), 1) == snapshot


GOOD = empty("demo", "dev").next().model_dump_json()


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("{not json", "body"),
        ("{}", "lineage"),
        (GOOD.replace('"version":1', '"version":3'), "version"),
        (GOOD.replace('"serial":1', '"serial":5'), "claims serial 5"),
        (GOOD.replace('"resources":{}', '"resources":{"a":{"kind":1}}'), "resources.a"),
    ],
    ids=["not-json", "missing-fields", "future-version", "wrong-serial", "bad-resource"],
)
def test_corrupt_bodies_name_the_serial(body: str, problem: str) -> None:
    with pytest.raises(StateCorrupt, match=r"state serial 1 is corrupt") as caught:
        parse_body(body, 1)
    assert problem in str(caught.value)
    assert "agentform state history" in str(caught.value)
    assert caught.value.serial == 1
