"""FakeStateStore's own controls; what it shares with the SQL store: tests/state/test_protocol."""

from __future__ import annotations

import pytest

from agentform.state import StateError, empty
from agentform.testing import FakeStateStore


def test_every_open_gets_the_same_serials_and_close_keeps_them() -> None:
    fake = FakeStateStore("demo", "dev")
    with fake.open(None, "demo", "dev", ".") as store:
        store.write(empty("demo", "dev").next(), expected_serial=0)
    with fake.open("ignored://", "demo", "dev", "/elsewhere") as again:
        latest = again.read()
    assert latest is not None and latest.serial == 1
    assert fake.writes == 1


def test_opening_another_project_is_a_mistake_in_the_test() -> None:
    with pytest.raises(ValueError, match="this fake holds project 'demo' environment 'dev'"):
        FakeStateStore("demo", "dev").open(None, "demo", "prod", ".")


def test_fail_next_write_fails_one_write_and_writes_nothing() -> None:
    fake = FakeStateStore("demo", "dev")
    fake.fail_next_write(StateError("the database went away; try again"))
    first = empty("demo", "dev").next()
    with pytest.raises(StateError, match="went away"):
        fake.write(first, expected_serial=0)
    assert fake.read() is None and fake.writes == 0
    fake.write(first, expected_serial=0)
    assert fake.read() == first
