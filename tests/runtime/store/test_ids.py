"""Time-ordered ids (UUIDv7 layout): unique, sorted in the order made, valid UUIDs."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from agentform.runtime.store import ids
from agentform.runtime.store.ids import new_id


def test_ids_are_uuid7_hex_and_carry_the_time() -> None:
    before = time.time_ns() // 1_000_000
    made = new_id()
    after = time.time_ns() // 1_000_000
    parsed = uuid.UUID(made)
    assert len(made) == 32 and made == parsed.hex
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert before <= int(made[:12], 16) <= after


def test_ids_sort_in_the_order_they_were_made_and_never_repeat() -> None:
    made = [new_id() for _ in range(50_000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_ids_made_in_one_millisecond_still_grow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "_last", (0, 0))
    monkeypatch.setattr(ids.time, "time_ns", lambda: 1_700_000_000_000_000_000)
    made = [new_id() for _ in range(1000)]
    assert made == sorted(made) and len(set(made)) == 1000
    assert {m[:12] for m in made} == {f"{1_700_000_000_000:012x}"}


def test_a_clock_that_steps_back_does_not_make_ids_go_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ids, "_last", (0, 0))
    clock = iter([2_000_000_000_000_000_000, 1_000_000_000_000_000_000])
    monkeypatch.setattr(ids.time, "time_ns", lambda: next(clock))
    first, second = new_id(), new_id()
    assert second > first


def test_the_random_part_running_out_borrows_the_next_millisecond(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now_ms = 1_700_000_000_000
    monkeypatch.setattr(ids, "_last", (now_ms, (1 << 74) - 1))
    monkeypatch.setattr(ids.time, "time_ns", lambda: now_ms * 1_000_000)
    made = new_id()
    assert int(made[:12], 16) == now_ms + 1
    assert uuid.UUID(made).version == 7


def test_ids_from_several_threads_are_unique() -> None:
    made: list[str] = []

    def make() -> None:
        made.extend(new_id() for _ in range(5000))

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == 20_000
