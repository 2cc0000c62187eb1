"""What the StateStore protocol promises, held against every store: SQLite, PostgreSQL, the fake.

Backend details (corrupt rows, locks across processes, row layout) are in ``test_store.py``;
this file is only what a caller of :class:`agentform.state.StateStore` may rely on.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC
from pathlib import Path

import pytest

from agentform.state import (
    LineageMismatch,
    LockNotFound,
    RecordedResource,
    SerialNotFound,
    StateConflict,
    StateError,
    StateLocked,
    StateSnapshot,
    StateStore,
    empty,
    open_store,
)
from agentform.testing import FakeStateStore

Opener = Callable[[], StateStore]

AGENT = RecordedResource(
    kind="agent",
    name="triage",
    provider="fake",
    id="agent-1",
    values={"model": "fast", "tools": ["kb"], "limits": {"max_steps": 3}},
)
STORES = ["sqlite", "postgresql", "fake"]


@pytest.fixture(params=STORES, ids=STORES)
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens the same state again on every call (as a second process would)."""
    # the PostgreSQL database is shared by the session: each test gets its own project
    project = f"demo-{uuid.uuid4().hex[:8]}"
    if request.param == "fake":
        fake = FakeStateStore(project, "dev")
        return lambda: fake.open(None, project, "dev", tmp_path)
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = str(request.getfixturevalue("postgres_url"))
    return lambda: open_store(url, project, "dev", tmp_path)


@pytest.fixture
def store(opener: Opener) -> Iterator[StateStore]:
    with opener() as opened:
        yield opened


def write_serials(store: StateStore, count: int) -> list[StateSnapshot]:
    written, snapshot = [], empty(store.project, store.environment)
    for n in range(count):
        resources = {
            **snapshot.resources,
            f"agent.a{n}": AGENT.model_copy(update={"name": f"a{n}"}),
        }
        snapshot = snapshot.next(resources, spec_revision=f"rev{n + 1}")
        store.write(snapshot, expected_serial=n)
        written.append(snapshot)
    return written


# -- serials -----------------------------------------------------------------------------------


def test_a_new_store_is_empty_and_unlocked(store: StateStore) -> None:
    assert store.read() is None
    assert store.history() == []
    assert store.current_lock() is None


def test_serials_follow_one_another_and_keep_the_lineage(store: StateStore) -> None:
    written = write_serials(store, 3)
    assert store.read() == written[-1]
    assert [store.read_serial(n) for n in (1, 2, 3)] == written
    assert {store.read_serial(n).lineage for n in (1, 2, 3)} == {written[0].lineage}
    history = store.history()
    assert [(h.serial, h.summary) for h in history] == [
        (1, "1 resource, spec rev1"),
        (2, "2 resources, spec rev2"),
        (3, "3 resources, spec rev3"),
    ]
    assert all(h.written_at.tzinfo is UTC for h in history)


def test_what_was_written_is_read_back_when_opened_again(store: StateStore, opener: Opener) -> None:
    written = write_serials(store, 2)
    with opener() as again:
        assert again.read() == written[-1]
        assert again.read_serial(1) == written[0]
        assert [h.serial for h in again.history()] == [1, 2]


def test_a_serial_never_written_is_not_found(store: StateStore) -> None:
    write_serials(store, 1)
    with pytest.raises(SerialNotFound) as caught:
        store.read_serial(7)
    assert isinstance(caught.value, StateError)
    assert str(caught.value) == (
        f"there is no state serial 7 for project {store.project!r} environment 'dev'; "
        'run "agentform state history" to list the serials'
    )


# each row: how to build the refused write from the latest serial (2), the error, a phrase of it
Refusal = Callable[[StateSnapshot], tuple[StateSnapshot, int]]
REFUSED: list[tuple[str, Refusal, type[Exception], str]] = [
    (
        "behind",
        lambda last: (last.model_copy(update={"serial": 2}), 1),
        StateConflict,
        "based on state serial 1, but state is now 2",
    ),
    (
        "ahead",
        lambda last: (last.model_copy(update={"serial": 4}), 3),
        StateConflict,
        "based on state serial 3, but state is now 2",
    ),
    (
        "other-lineage",
        lambda last: (last.next().model_copy(update={"lineage": str(uuid.uuid4())}), 2),
        LineageMismatch,
        "has lineage",
    ),
    (
        "other-project",
        lambda last: (last.next().model_copy(update={"project": "elsewhere"}), 2),
        LineageMismatch,
        "is for project 'elsewhere'",
    ),
    (
        "other-environment",
        lambda last: (last.next().model_copy(update={"environment": "prod"}), 2),
        LineageMismatch,
        "environment 'prod'",
    ),
    (
        "not-the-next-serial",
        lambda last: (last.next().next(), 2),
        ValueError,
        "does not follow expected serial 2",
    ),
]


@pytest.mark.parametrize(
    ("refusal", "error", "phrase"),
    [row[1:] for row in REFUSED],
    ids=[row[0] for row in REFUSED],
)
def test_a_refused_write_writes_nothing(
    store: StateStore, refusal: Refusal, error: type[Exception], phrase: str
) -> None:
    written = write_serials(store, 2)
    snapshot, expected = refusal(written[-1])
    with pytest.raises(error, match=phrase):
        store.write(snapshot, expected_serial=expected)
    assert store.read() == written[-1]
    assert [h.serial for h in store.history()] == [1, 2]


# -- lock --------------------------------------------------------------------------------------


def test_the_lock_has_one_holder_at_a_time(store: StateStore, opener: Opener) -> None:
    with store.lock("apply") as held, opener() as second:
        assert held.operation == "apply"
        with pytest.raises(StateLocked) as caught, second.lock("import"):
            pass
        assert caught.value.holder == held
        assert f'"agentform force-unlock {held.id}"' in str(caught.value)
        assert second.current_lock() == held
        write_serials(store, 1)  # the holder writes under its lock
    assert store.current_lock() is None
    with opener() as second, second.lock("import") as mine:
        assert store.current_lock() == mine


def test_the_lock_is_released_when_its_holder_fails(store: StateStore) -> None:
    with pytest.raises(RuntimeError), store.lock("apply"):
        raise RuntimeError("the apply crashed")
    assert store.current_lock() is None
    with store.lock("apply"):
        pass


def test_force_unlock_frees_the_lock_of_the_named_holder_only(
    store: StateStore, opener: Opener
) -> None:
    with store.lock("apply") as held, opener() as admin:
        with pytest.raises(LockNotFound, match="is not the current lock"):
            admin.force_unlock("wrong-id")
        assert admin.force_unlock(held.id) == held
        assert admin.current_lock() is None
        with admin.lock("apply") as mine:
            assert admin.current_lock() == mine
    with pytest.raises(LockNotFound, match="the state is not locked"):
        store.force_unlock(held.id)
