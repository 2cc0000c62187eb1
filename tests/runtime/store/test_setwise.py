"""Writes run together (set-wise, :mod:`agentform.runtime.store.setwise`) give exactly what the
same writes give one after the other: every result, every error, and what the database holds
afterwards. Checked on generated batches (hypothesis) and on the cases that matter most."""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, create_engine, text

from agentform.runtime.store import RuntimeStore, StoreError
from agentform.runtime.store.batch import Grouped, run_writes
from agentform.runtime.store.records import (
    NewStep,
    StepRecord,
    TaskRecord,
    TaskStatus,
    Turn,
    new_task,
)
from agentform.runtime.store.setwise import Start, StepsWrite

IDS = ["t0", "t1", "t2", "t3"]
KINDS = ["start", "model", "final"]


@pytest.fixture
def store(runtime_url: str) -> Iterator[RuntimeStore]:
    with RuntimeStore(runtime_url) as opened:
        yield opened


# one write of each kind, as the store's *_batched methods make them


def _create(store: RuntimeStore, id: str, agent: str, context: str) -> Grouped:
    return store._create_write(new_task(id, agent, "hi", context, {}, None), None, ())


def _start(store: RuntimeStore, id: str, recorded: bool, context: str) -> Grouped:
    create = {"agent": "a", "input": "hi", "context_id": context}
    return store._start_write(Start(id, "w", create, recorded))


def _steps(
    store: RuntimeStore, id: str, seqs: list[tuple[int, str]], end: TaskStatus | None
) -> Grouped:
    steps = [
        NewStep(seq, kind, {"n": seq}, input_tokens=seq, output_tokens=1) for seq, kind in seqs
    ]
    finish = None if end is None else (end, "ok" if end is TaskStatus.COMPLETED else None, None)
    return store._steps_write(StepsWrite(id, steps, finish))


def _order(writes: list[Grouped], results: list[Any] | None = None) -> list[int]:
    """The serial order a batch is equivalent to: segments of distinct tasks, each kind by kind
    (lower rank first); among the starts, those that started before those that must wait
    (set-wise, every start of a kind is checked before any is started); otherwise in the
    order asked."""

    def waits(index: int) -> bool:
        result = None if results is None else results[index]
        return isinstance(result, Turn) and result.blocker is not None

    order: list[int] = []
    segment: list[int] = []
    for index, write in enumerate(writes):
        if write.key in {writes[i].key for i in segment}:
            order += sorted(segment, key=lambda i: (writes[i].rank, waits(i)))
            segment = []
        segment.append(index)
    return order + sorted(segment, key=lambda i: (writes[i].rank, waits(i)))


def _shown(result: Any) -> Any:
    """A result without its times (each side stamps its own)."""
    if isinstance(result, Turn):
        return ("turn", _shown(result.task), _shown(result.blocker))
    if isinstance(result, TaskRecord):
        return (result.id, result.status, result.attempts, result.worker, result.context_id)
    if isinstance(result, StepRecord):
        return (result.task_id, result.seq, result.kind, result.data, result.input_tokens)
    if isinstance(result, tuple | list):
        return type(result)(_shown(item) for item in result)
    return result


def _state(store: RuntimeStore) -> list[Any]:
    out = []
    for task in sorted(store.list_tasks(limit=100), key=lambda t: t.id):
        steps = [(s.seq, s.kind, s.data) for s in store.steps(task.id)]
        tokens = (task.input_tokens, task.output_tokens)
        out.append((_shown(task), task.result, tokens, steps))
    return out


def _alone(store: RuntimeStore, write: Grouped) -> Any:
    with store._begin() as conn:
        return write.run(conn, [write.item])[0]


def _together(store: RuntimeStore, writes: list[Grouped]) -> list[Any]:
    with store._begin() as conn:
        return run_writes(conn, writes)


_write = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(IDS), st.sampled_from(["a", "b"])),
    st.tuples(st.just("start"), st.sampled_from(IDS), st.booleans()),
    st.tuples(
        st.just("steps"),
        st.sampled_from(IDS),
        st.lists(st.tuples(st.integers(0, 3), st.sampled_from(KINDS)), max_size=3),
        st.sampled_from([None, TaskStatus.COMPLETED, TaskStatus.FAILED]),
    ),
)


def _make(store: RuntimeStore, spec: tuple[Any, ...], contexts: dict[str, str]) -> Grouped:
    kind, id = spec[0], spec[1]
    if kind == "create":
        return _create(store, id, spec[2], contexts[id])
    if kind == "start":
        return _start(store, id, spec[2], contexts[id])
    return _steps(store, id, spec[2], spec[3])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=st.lists(_write, max_size=6),
    batch=st.lists(_write, min_size=1, max_size=10),
    shared=st.booleans(),
)
def test_a_batch_gives_what_its_writes_give_one_after_the_other(
    before: list[tuple[Any, ...]], batch: list[tuple[Any, ...]], shared: bool
) -> None:
    # all in one conversation (so tasks wait for each other) or each its own
    contexts = {id: "c" if shared else f"c-{id}" for id in IDS}
    with tempfile.TemporaryDirectory() as tmp:
        stores = [RuntimeStore(f"sqlite:///{Path(tmp) / name}.db") for name in ("one", "all")]
        try:
            for store in stores:  # the same history on both, one write at a time
                for spec in before:
                    with contextlib.suppress(StoreError):
                        _alone(store, _make(store, spec, contexts))
            one, together = stores
            grouped = [_make(together, spec, contexts) for spec in batch]
            before_state = _state(together)
            try:
                results: list[Any] | None = _together(together, grouped)
            except StoreError:
                results = None  # the shared transaction failed and left nothing
                assert _state(together) == before_state
            writes = [_make(one, spec, contexts) for spec in batch]
            expected: dict[int, Any] = {}
            try:
                for index in _order(writes, results):
                    expected[index] = _alone(one, writes[index])
            except StoreError:
                # a write fails alone too (the batch then runs each write alone, as
                # tests/runtime/store/test_batch.py checks); which one does not depend on the order
                assert results is None
                return
            assert results is not None, "the batch failed where its writes one by one did not"
            assert [_shown(r) for r in results] == [_shown(expected[i]) for i in range(len(batch))]
            assert _state(together) == _state(one)
        finally:
            for store in stores:
                store.close()


def test_tasks_started_together_wait_for_the_earlier_ones_of_their_conversation(
    store: RuntimeStore,
) -> None:
    store.create_task(id="old", agent="a", input="x", context_id="c")
    writes = [_start(store, id, False, "c") for id in ("t1", "t2")] + [
        _start(store, "t3", False, "other")
    ]
    t1, t2, t3 = _together(store, writes)
    assert t1.task is None and t1.blocker is not None and t1.blocker.id == "old"
    assert t2.task is None and t2.blocker is not None and t2.blocker.id == "old"
    assert t3.task is not None and t3.task.status is TaskStatus.WORKING


def test_an_end_in_the_same_batch_lets_the_next_message_start(store: RuntimeStore) -> None:
    store.create_task(id="first", agent="a", input="x", context_id="c")
    store.start_turn("first", "w")
    # asked in this order, but a task's end runs before other tasks start (rank 0 < 2)
    writes = [
        _start(store, "second", False, "c"),
        _steps(store, "first", [(0, "start"), (1, "final")], TaskStatus.COMPLETED),
    ]
    second, (steps, changed) = _together(store, writes)
    assert changed and [s.kind for s in steps] == ["start", "final"]
    assert second.task is not None and second.task.id == "second"


def test_two_writes_of_one_task_run_in_the_order_asked(store: RuntimeStore) -> None:
    store.create_task(id="t", agent="a", input="x")
    writes = [
        _steps(store, "t", [(0, "start")], None),
        _steps(store, "t", [(0, "start"), (1, "final")], TaskStatus.COMPLETED),
    ]
    first, (second, changed) = _together(store, writes)
    assert [s.seq for s in first] == [0] and [s.seq for s in second] == [0, 1]
    assert changed
    task = store.get_task("t")
    # the start step's tokens counted once: the second write re-recorded it
    assert task is not None and task.status is TaskStatus.COMPLETED


def test_plain_writes_keep_their_place(store: RuntimeStore) -> None:
    store.create_task(id="t", agent="a", input="x")
    seen: list[int] = []

    def count(conn: Connection) -> int:
        seen.append(len(store._sql.record_steps(conn, [StepsWrite("t", [])], _now())))
        return len(seen)

    writes: list[Any] = [
        _steps(store, "t", [(0, "start")], None),
        count,
        _steps(store, "t", [(1, "model")], None),
    ]
    results = _together(store, writes)
    assert results[1] == 1 and [s.seq for s in results[2]] == [1]


def test_an_ended_task_stays_ended_and_says_so(store: RuntimeStore) -> None:
    for id in ("alone", "a", "b"):
        store.create_task(id=id, agent="a", input="x")
    assert store.finish_task("alone", TaskStatus.CANCELED)
    steps, changed = store.finish_with_steps(
        "alone", [NewStep(0, "final", {"text": "late"})], TaskStatus.COMPLETED, result="late"
    )
    assert not changed and [s.kind for s in steps] == ["final"]  # recorded all the same
    assert store.finish_task("a", TaskStatus.FAILED, error="no")
    writes = [
        _steps(store, "a", [(0, "final")], TaskStatus.COMPLETED),
        _steps(store, "b", [(0, "final")], TaskStatus.COMPLETED),
    ]
    (_, a_changed), (_, b_changed) = _together(store, writes)
    assert (a_changed, b_changed) == (False, True)
    ended = {id: store.get_task(id) for id in ("alone", "a", "b")}
    assert [(t.status, t.result) for t in ended.values() if t is not None] == [
        (TaskStatus.CANCELED, None),
        (TaskStatus.FAILED, None),
        (TaskStatus.COMPLETED, "ok"),
    ]


def test_a_step_of_an_unknown_task_is_refused(store: RuntimeStore) -> None:
    with pytest.raises(StoreError, match="no task ghost"):
        store.append_steps("ghost", [NewStep(0, "start", {})])


def test_many_steps_go_in_several_inserts(store: RuntimeStore) -> None:
    store.create_task(id="t", agent="a", input="x")
    steps = [NewStep(seq, "note", {"i": seq}, input_tokens=1) for seq in range(1201)]
    recorded = store.append_steps("t", steps)
    assert [s.seq for s in recorded] == list(range(1201))
    task = store.get_task("t")
    assert task is not None and task.input_tokens == 1201
    assert len(store.steps("t")) == 1201


def _now() -> Any:
    from agentform.runtime.store.steps import utc_now

    return utc_now()


def test_a_driver_error_in_a_set_wise_statement_is_a_store_error(
    store: RuntimeStore, runtime_url: str
) -> None:
    # the statements run on the driver's cursor: its errors still reach the caller as the
    # store's clear error, on both databases, and the store keeps working afterwards
    store.create_task(id="t1", agent="a", input="x")
    _raw_sql(runtime_url, "ALTER TABLE agentform_steps RENAME TO agentform_steps_gone")
    with pytest.raises(StoreError, match=r"the runtime store .* failed: .*agentform_steps"):
        store.append_steps("t1", [NewStep(0, "start", {})])
    _raw_sql(runtime_url, "ALTER TABLE agentform_steps_gone RENAME TO agentform_steps")
    assert [s.kind for s in store.append_steps("t1", [NewStep(0, "start", {})])] == ["start"]


def test_a_postgresql_connection_dropped_under_a_statement_is_replaced(postgres_url: str) -> None:
    # the server ends the store's connection inside a transaction, before a set-wise statement
    # runs on the driver's cursor: that write fails as a store error, the connection is marked
    # dropped (the pool does not hand it out again), and the next write works on a new one
    name = f"runtime_{uuid.uuid4().hex[:12]}"
    _raw_sql(postgres_url, f'CREATE DATABASE "{name}"', autocommit=True)
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    used: list[Connection] = []

    def drop_me(conn: Connection) -> None:
        used.append(conn)
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        _raw_sql(postgres_url, f"SELECT pg_terminate_backend({pid})", autocommit=True)

    with RuntimeStore(url) as store:
        store.create_task(id="t1", agent="a", input="x")
        dropped: list[bool] = []
        with (
            pytest.raises(StoreError, match=r"the runtime store .* failed"),
            store._begin() as conn,
        ):
            try:
                run_writes(conn, [drop_me, _steps(store, "t1", [(0, "start")], None)])
            finally:
                dropped.append(conn.invalidated)
        assert used and dropped == [True]
        assert [s.seq for s in store.append_steps("t1", [NewStep(0, "start", {})])] == [0]


def _raw_sql(url: str, statement: str, *, autocommit: bool = False) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT") if autocommit else create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()
