"""The runtime store, on SQLite and on a real PostgreSQL: every method, its edges, concurrency."""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from agentform.runtime.store import (
    TERMINAL,
    NewStep,
    RuntimeStore,
    StepRecord,
    StoreError,
    TaskRecord,
    TaskStatus,
    Turn,
)


@pytest.fixture
def store(runtime_url: str) -> Iterator[RuntimeStore]:
    with RuntimeStore(runtime_url) as opened:
        yield opened


def _raw_sql(url: str, statement: str) -> None:
    """Change a row behind the store's back, as a hand edit or a bad migration would."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


# tasks


def test_create_task_records_a_submitted_task(store: RuntimeStore) -> None:
    before = datetime.now(UTC)
    task, created = store.create_task(
        id="t1", agent="triage", input="hello", inputs={"user": {"name": "Ada"}}, parent_id="p0"
    )
    assert created
    assert task == store.get_task("t1")
    assert isinstance(task, TaskRecord)
    assert (task.id, task.agent, task.input, task.parent_id) == ("t1", "triage", "hello", "p0")
    assert task.inputs == {"user": {"name": "Ada"}}
    assert task.status is TaskStatus.SUBMITTED
    assert (task.result, task.error, task.worker, task.finished_at) == (None, None, None, None)
    assert (task.attempts, task.input_tokens, task.output_tokens) == (0, 0, 0)
    assert len(task.context_id) == 32
    assert task.created_at.tzinfo is UTC and task.created_at >= before
    assert task.updated_at == task.created_at


def test_create_task_is_idempotent_on_id(store: RuntimeStore) -> None:
    first, created = store.create_task(id="t1", agent="a", input="one", context_id="c1")
    again, created_again = store.create_task(id="t1", agent="a", input="two", inputs={"x": 1})
    assert created and not created_again
    assert again == first  # the retried submit changed nothing
    assert len(store.list_tasks()) == 1


def test_create_task_with_same_id_for_another_agent_is_an_error(store: RuntimeStore) -> None:
    store.create_task(id="t1", agent="a", input="x")
    with pytest.raises(StoreError, match="task t1 already exists for agent 'a', not 'b'"):
        store.create_task(id="t1", agent="b", input="x")


def test_context_ids_default_to_distinct_uuids(store: RuntimeStore) -> None:
    one, _ = store.create_task(id="t1", agent="a", input="x")
    two, _ = store.create_task(id="t2", agent="a", input="x")
    given_, _ = store.create_task(id="t3", agent="a", input="x", context_id="ctx")
    assert one.context_id != two.context_id
    assert given_.context_id == "ctx"


def test_get_task_unknown_is_none(store: RuntimeStore) -> None:
    assert store.get_task("nope") is None


def test_inputs_that_are_not_json_are_refused(store: RuntimeStore) -> None:
    with pytest.raises(StoreError, match="the inputs of task t1 cannot be stored as JSON"):
        store.create_task(id="t1", agent="a", input="x", inputs={"when": datetime.now(UTC)})
    assert store.get_task("t1") is None


LIST_CASES = [
    ({}, ["t5", "t4", "t3", "t2", "t1"]),
    ({"limit": 2}, ["t5", "t4"]),
    ({"agent": "a"}, ["t5", "t3", "t1"]),
    ({"agent": "b", "limit": 1}, ["t4"]),
    ({"status": TaskStatus.WORKING}, ["t3", "t2"]),
    ({"status": TaskStatus.COMPLETED}, ["t5"]),
    ({"status": TaskStatus.CANCELED}, []),
    ({"context_id": "c1"}, ["t2", "t1"]),
    ({"agent": "a", "status": TaskStatus.WORKING}, ["t3"]),
    ({"agent": "a", "context_id": "c1"}, ["t1"]),
    ({"agent": "zzz"}, []),
]


@pytest.mark.parametrize(
    ("filters", "expected"),
    LIST_CASES,
    ids=["all", "limit", "agent", "agent+limit", "working", "completed", "none-canceled",
         "context", "agent+status", "agent+context", "unknown-agent"],
)  # fmt: skip
def test_list_tasks_filters_newest_first(
    store: RuntimeStore, filters: dict[str, Any], expected: list[str]
) -> None:
    rows = [("t1", "a", "c1"), ("t2", "b", "c1"), ("t3", "a", "c2"), ("t4", "b", "c3")]
    rows.append(("t5", "a", "c4"))
    for task_id, agent, context in rows:
        store.create_task(id=task_id, agent=agent, input="x", context_id=context)
    store.start_attempt("t2", "w")
    store.start_attempt("t3", "w")
    store.finish_task("t5", TaskStatus.COMPLETED, result="ok")
    assert [t.id for t in store.list_tasks(**filters)] == expected


def test_start_attempt_counts_attempts_and_names_the_worker(store: RuntimeStore) -> None:
    store.create_task(id="t1", agent="a", input="x")
    first = store.start_attempt("t1", "w1")
    second = store.start_attempt("t1", "w2")
    assert first is not None and second is not None
    assert (first.status, first.attempts, first.worker) == (TaskStatus.WORKING, 1, "w1")
    assert (second.attempts, second.worker) == (2, "w2")
    assert second.updated_at >= first.updated_at
    assert store.get_task("t1") == second


@pytest.mark.parametrize("final", sorted(TERMINAL), ids=str)
def test_start_attempt_on_a_finished_task_changes_nothing(
    store: RuntimeStore, final: TaskStatus
) -> None:
    store.create_task(id="t1", agent="a", input="x")
    store.start_attempt("t1", "w1")
    assert store.finish_task("t1", final)
    before = store.get_task("t1")
    assert store.start_attempt("t1", "w2") is None
    assert store.get_task("t1") == before


def test_start_attempt_on_an_unknown_task_is_none(store: RuntimeStore) -> None:
    assert store.start_attempt("nope", "w") is None


def test_start_turn_starts_a_task_whose_conversation_is_free(store: RuntimeStore) -> None:
    store.create_task(id="t1", agent="a", input="x", context_id="c")
    turn = store.start_turn("t1", "w1")
    assert turn.blocker is None and turn.task is not None
    assert (turn.task.status, turn.task.attempts, turn.task.worker) == (TaskStatus.WORKING, 1, "w1")


def test_start_turn_waits_for_the_earlier_task_of_the_conversation(store: RuntimeStore) -> None:
    store.create_task(id="t1", agent="a", input="first", context_id="c")
    store.create_task(id="t2", agent="a", input="second", context_id="c")
    store.create_task(id="t3", agent="a", input="elsewhere", context_id="other")
    turn = store.start_turn("t2", "w1")
    assert turn.task is None and turn.blocker is not None and turn.blocker.id == "t1"
    second = store.get_task("t2")
    assert second is not None and (second.status, second.attempts) == (TaskStatus.SUBMITTED, 0)
    assert store.start_turn("t3", "w1").task is not None  # another conversation is not held up
    assert store.finish_task("t1", TaskStatus.COMPLETED)
    started = store.start_turn("t2", "w1").task
    assert started is not None and started.attempts == 1


@pytest.mark.parametrize("recorded", [True, False], ids=["hinted-recorded", "hinted-new"])
def test_start_turn_records_a_task_published_straight_to_the_bus(
    store: RuntimeStore, recorded: bool
) -> None:
    # the hint only picks the order of the statements: the outcome is the same either way
    create = {"agent": "a", "input": "hi", "context_id": "c", "inputs": {"k": 1}, "parent_id": None}
    turn = store.start_turn("t9", "w1", create=create, recorded=recorded)
    assert turn.task is not None and turn.blocker is None
    task = turn.task
    assert (task.id, task.agent, task.input, task.context_id, task.inputs) == (
        "t9",
        "a",
        "hi",
        "c",
        {"k": 1},
    )
    assert (task.status, task.attempts) == (TaskStatus.WORKING, 1)
    # a redelivery of the same message starts a second attempt, never a second task
    again = store.start_turn("t9", "w2", create=create, recorded=not recorded)
    assert again.task is not None and again.task.attempts == 2
    assert len(store.list_tasks()) == 1


def test_start_turn_of_an_ended_task_starts_nothing(store: RuntimeStore) -> None:
    store.create_task(id="t1", agent="a", input="x")
    store.start_turn("t1", "w1")
    assert store.finish_task("t1", TaskStatus.COMPLETED)
    before = store.get_task("t1")
    create = {"agent": "a", "input": "x"}
    assert store.start_turn("t1", "w2", create=create) == Turn(None)
    assert store.start_turn("t1", "w2", create=create, recorded=False) == Turn(None)
    assert store.start_turn("t1", "w2") == Turn(None)
    assert store.get_task("t1") == before
    assert store.start_turn("unknown", "w") == Turn(None)


@pytest.mark.parametrize("recorded", [True, False], ids=["hinted-recorded", "hinted-new"])
def test_start_turn_of_a_bus_task_behind_a_busy_conversation_records_it_unstarted(
    store: RuntimeStore, recorded: bool
) -> None:
    store.create_task(id="t1", agent="a", input="first", context_id="c")
    create = {"agent": "a", "input": "next", "context_id": "c"}
    turn = store.start_turn("t2", "w1", create=create, recorded=recorded)
    assert turn.task is None and turn.blocker is not None and turn.blocker.id == "t1"
    waiting = store.get_task("t2")
    assert waiting is not None and waiting.status is TaskStatus.SUBMITTED
    # recorded already, and still blocked: the same answer, nothing started
    again = store.start_turn("t2", "w1", create=create, recorded=False)
    assert again.task is None and again.blocker is not None and again.blocker.id == "t1"


def test_steps_recorded_in_one_insert_count_only_new_tokens(store: RuntimeStore) -> None:
    store.create_task(id="t1", agent="a", input="x")
    store.append_steps("t1", [NewStep(1, "model", {"r": 1}, input_tokens=5, output_tokens=1)])
    # a replay re-records step 1 (same kind) beside new ones: tokens of step 1 are not added again
    written = store.append_steps(
        "t1",
        [
            NewStep(0, "start", {}),
            NewStep(1, "model", {"r": 1}, input_tokens=5, output_tokens=1),
            NewStep(2, "model", {"r": 2}, input_tokens=7, output_tokens=2),
            NewStep(3, "final", {"text": "ok"}),
        ],
    )
    assert [(s.seq, s.kind) for s in written] == [
        (0, "start"),
        (1, "model"),
        (2, "model"),
        (3, "final"),
    ]
    assert written[1].data == {"r": 1}
    task = store.get_task("t1")
    assert task is not None and (task.input_tokens, task.output_tokens) == (12, 3)
    assert [s.seq for s in store.steps("t1")] == [0, 1, 2, 3]
    assert store.append_steps("t1", []) == []


def test_append_steps_writes_all_or_none(store: RuntimeStore) -> None:
    store.create_task(id="t1", agent="a", input="x")
    written = store.append_steps(
        "t1", [NewStep(0, "start", {"i": 1}), NewStep(1, "model", {"r": 2}, input_tokens=3)]
    )
    assert [(s.seq, s.kind) for s in written] == [(0, "start"), (1, "model")]
    # a batch whose second step conflicts with a recorded one leaves nothing of itself behind
    with pytest.raises(StoreError, match="already recorded"):
        store.append_steps("t1", [NewStep(2, "tool_call", {}), NewStep(1, "final", {})])
    assert [s.kind for s in store.steps("t1")] == ["start", "model"]
    task = store.get_task("t1")
    assert task is not None and task.input_tokens == 3


def test_finish_with_steps_records_and_ends_in_one_go(store: RuntimeStore) -> None:
    store.create_task(id="t1", agent="a", input="x")
    store.start_attempt("t1", "w")
    steps = [NewStep(0, "start", {}), NewStep(1, "model", {}), NewStep(2, "final", {"text": "ok"})]
    recorded, changed = store.finish_with_steps("t1", steps, TaskStatus.COMPLETED, result="ok")
    assert changed and [s.kind for s in recorded] == ["start", "model", "final"]
    task = store.get_task("t1")
    assert task is not None and (task.status, task.result) == (TaskStatus.COMPLETED, "ok")
    with pytest.raises(ValueError, match="terminal"):
        store.finish_with_steps("t1", [], TaskStatus.WORKING)


@pytest.mark.parametrize(
    ("final", "result", "error"),
    [
        (TaskStatus.COMPLETED, "the answer", None),
        (TaskStatus.FAILED, None, "model timed out"),
        (TaskStatus.CANCELED, None, None),
    ],
    ids=["completed", "failed", "canceled"],
)
def test_finish_task_is_compare_and_set(
    store: RuntimeStore, final: TaskStatus, result: str | None, error: str | None
) -> None:
    store.create_task(id="t1", agent="a", input="x")
    assert store.finish_task("t1", final, result=result, error=error)
    done = store.get_task("t1")
    assert done is not None
    assert (done.status, done.result, done.error) == (final, result, error)
    assert done.finished_at is not None and done.finished_at == done.updated_at
    # a second finish, whatever it says, loses
    assert not store.finish_task("t1", TaskStatus.COMPLETED, result="late")
    assert not store.finish_task("t1", TaskStatus.FAILED, error="late")
    assert store.get_task("t1") == done


def test_finish_unknown_task_is_false(store: RuntimeStore) -> None:
    assert not store.finish_task("nope", TaskStatus.COMPLETED)


@pytest.mark.parametrize(
    "status", [TaskStatus.SUBMITTED, TaskStatus.WORKING, TaskStatus.INPUT_REQUIRED], ids=str
)
def test_finish_task_needs_a_terminal_status(store: RuntimeStore, status: TaskStatus) -> None:
    store.create_task(id="t1", agent="a", input="x")
    with pytest.raises(ValueError, match="terminal status"):
        store.finish_task("t1", status)


@pytest.mark.parametrize(
    ("start", "to", "changed"),
    [
        (TaskStatus.WORKING, TaskStatus.INPUT_REQUIRED, True),
        (TaskStatus.INPUT_REQUIRED, TaskStatus.SUBMITTED, True),
        (TaskStatus.SUBMITTED, TaskStatus.WORKING, True),
        (TaskStatus.COMPLETED, TaskStatus.INPUT_REQUIRED, False),
        (TaskStatus.FAILED, TaskStatus.SUBMITTED, False),
        (TaskStatus.CANCELED, TaskStatus.WORKING, False),
    ],
    ids=["working->input", "input->submitted", "submitted->working", "completed-stays",
         "failed-stays", "canceled-stays"],
)  # fmt: skip
def test_set_status(store: RuntimeStore, start: TaskStatus, to: TaskStatus, changed: bool) -> None:
    store.create_task(id="t1", agent="a", input="x")
    if start in TERMINAL:
        store.finish_task("t1", start)
    elif start is not TaskStatus.SUBMITTED:
        store.set_status("t1", start)
    assert store.set_status("t1", to) is changed
    task = store.get_task("t1")
    assert task is not None and task.status is (to if changed else start)


def test_set_status_refuses_terminal_statuses(store: RuntimeStore) -> None:
    store.create_task(id="t1", agent="a", input="x")
    with pytest.raises(ValueError, match="use finish_task"):
        store.set_status("t1", TaskStatus.COMPLETED)
    assert not store.set_status("nope", TaskStatus.WORKING)


def test_counts_every_status(store: RuntimeStore) -> None:
    assert store.counts() == dict.fromkeys([s.value for s in TaskStatus], 0)
    for i in range(3):
        store.create_task(id=f"t{i}", agent="a", input="x")
    store.start_attempt("t0", "w")
    store.finish_task("t1", TaskStatus.FAILED, error="boom")
    assert store.counts() == {
        "submitted": 1,
        "working": 1,
        "input-required": 0,
        "completed": 0,
        "failed": 1,
        "canceled": 0,
        "rejected": 0,
    }


# steps


def test_append_step_records_and_totals_tokens(store: RuntimeStore) -> None:
    store.create_task(id="t1", agent="a", input="x")
    step = store.append_step(
        "t1", 0, "model", {"text": "hi"}, input_tokens=10, output_tokens=3, latency_ms=12.5
    )
    assert isinstance(step, StepRecord)
    assert (step.task_id, step.seq, step.kind, step.data) == ("t1", 0, "model", {"text": "hi"})
    assert (step.input_tokens, step.output_tokens, step.latency_ms) == (10, 3, 12.5)
    assert step.created_at.tzinfo is UTC
    store.append_step("t1", 1, "tool_call", {"name": "kb"})
    store.append_step("t1", 2, "model", {}, input_tokens=5, output_tokens=7)
    task = store.get_task("t1")
    assert task is not None and (task.input_tokens, task.output_tokens) == (15, 10)
    assert store.steps("t1") == [step, *store.steps("t1", after=0)]


def test_replayed_step_with_same_kind_returns_the_original(store: RuntimeStore) -> None:
    store.create_task(id="t1", agent="a", input="x")
    original = store.append_step("t1", 0, "model", {"v": 1}, input_tokens=4, output_tokens=2)
    replayed = store.append_step("t1", 0, "model", {"v": 2}, input_tokens=99, output_tokens=99)
    assert replayed == original
    task = store.get_task("t1")
    assert task is not None and (task.input_tokens, task.output_tokens) == (4, 2)
    assert store.steps("t1") == [original]


def test_step_seq_with_another_kind_is_a_conflict(store: RuntimeStore) -> None:
    store.create_task(id="t1", agent="a", input="x")
    original = store.append_step("t1", 0, "model", {"v": 1}, input_tokens=4)
    with pytest.raises(StoreError, match="step 0 of task t1 is already recorded as 'model'"):
        store.append_step("t1", 0, "final", {"v": 2}, input_tokens=4)
    assert store.steps("t1") == [original]
    task = store.get_task("t1")
    assert task is not None and task.input_tokens == 4


def test_step_for_unknown_task_is_refused_and_not_kept(store: RuntimeStore) -> None:
    with pytest.raises(StoreError, match="no task ghost to record step 0 for"):
        store.append_step("ghost", 0, "model", {})
    assert store.steps("ghost") == []


def test_steps_may_follow_a_finished_task(store: RuntimeStore) -> None:
    store.create_task(id="t1", agent="a", input="x")
    store.finish_task("t1", TaskStatus.COMPLETED, result="ok")
    store.append_step("t1", 0, "final", {"text": "ok"}, output_tokens=2)
    task = store.get_task("t1")
    assert task is not None and task.status is TaskStatus.COMPLETED and task.output_tokens == 2


@pytest.mark.parametrize(
    ("after", "expected"),
    [(-1, [0, 1, 2, 5]), (0, [1, 2, 5]), (2, [5]), (4, [5]), (5, []), (100, [])],
    ids=["all", "after-0", "after-2", "gap", "after-last", "beyond"],
)
def test_steps_are_ordered_after_a_seq(
    store: RuntimeStore, after: int, expected: list[int]
) -> None:
    store.create_task(id="t1", agent="a", input="x")
    store.create_task(id="t2", agent="a", input="x")
    for seq in (5, 0, 2, 1):  # recorded out of order
        store.append_step("t1", seq, "note", {"seq": seq})
    store.append_step("t2", 3, "note", {})
    assert [s.seq for s in store.steps("t1", after=after)] == expected


def test_step_data_that_is_not_json_is_refused(store: RuntimeStore) -> None:
    store.create_task(id="t1", agent="a", input="x")
    with pytest.raises(StoreError, match="step 0 of task t1 cannot be stored as JSON"):
        store.append_step("t1", 0, "model", {"x": float("nan")})
    assert store.steps("t1") == []


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: big ints must come back exactly
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),  # any code point, lone surrogates and NUL included
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.dictionaries(st.text(), JSON, max_size=5))
def test_step_data_round_trips_exactly(store: RuntimeStore, data: dict[str, Any]) -> None:
    task_id = f"fuzz-{next(_fuzz_ids)}"
    store.create_task(id=task_id, agent="a", input="x", inputs=data)
    recorded = store.append_step(task_id, 0, "model", data)
    assert recorded.data == data
    assert store.steps(task_id)[0].data == data
    task = store.get_task(task_id)
    assert task is not None and task.inputs == data
    # exact, not merely equal: 1 stays an int, 1.0 stays a float
    assert json.dumps(store.steps(task_id)[0].data) == json.dumps(data)


_fuzz_ids = itertools.count()


# dead letters


def test_dead_letter_fails_a_running_task_once(store: RuntimeStore) -> None:
    store.create_task(id="t1", agent="a", input="x")
    store.start_attempt("t1", "w")
    store.dead_letter("t1", agent="a", reason="5 deliveries, worker kept crashing", deliveries=5)
    store.dead_letter("t1", agent="a", reason="again", deliveries=6)  # idempotent
    task = store.get_task("t1")
    assert task is not None
    assert (task.status, task.error) == (TaskStatus.FAILED, "5 deliveries, worker kept crashing")
    assert task.finished_at is not None
    [letter] = store.dead_letters()
    assert letter["task_id"] == "t1" and letter["agent"] == "a"
    assert (letter["reason"], letter["deliveries"]) == ("5 deliveries, worker kept crashing", 5)
    assert letter["created_at"].tzinfo is UTC


def test_dead_letter_leaves_a_finished_task_as_it_was(store: RuntimeStore) -> None:
    store.create_task(id="t1", agent="a", input="x")
    store.finish_task("t1", TaskStatus.COMPLETED, result="ok")
    before = store.get_task("t1")
    store.dead_letter("t1", agent="a", reason="redelivered after ack lost", deliveries=2)
    assert store.get_task("t1") == before
    assert [d["task_id"] for d in store.dead_letters()] == ["t1"]


def test_dead_letters_for_unknown_tasks_are_kept_newest_first(store: RuntimeStore) -> None:
    for i in range(4):
        store.dead_letter(f"lost{i}", agent="a", reason="no record", deliveries=1)
    assert [d["task_id"] for d in store.dead_letters()] == ["lost3", "lost2", "lost1", "lost0"]
    assert [d["task_id"] for d in store.dead_letters(limit=2)] == ["lost3", "lost2"]
    assert store.get_task("lost0") is None


# errors


CORRUPTIONS = [
    (
        "UPDATE agentform_tasks SET inputs = '{not json' WHERE id = 't1'",
        "the inputs of task t1 is corrupt",
    ),
    ("UPDATE agentform_tasks SET inputs = '[1, 2]' WHERE id = 't1'", "not a JSON object"),
    ("UPDATE agentform_tasks SET status = 'exploded' WHERE id = 't1'", "unknown status"),
]


@pytest.mark.parametrize(("statement", "message"), CORRUPTIONS, ids=["json", "list", "status"])
def test_a_corrupt_task_row_is_a_store_error(
    store: RuntimeStore, runtime_url: str, statement: str, message: str
) -> None:
    store.create_task(id="t1", agent="a", input="x")
    _raw_sql(runtime_url, statement)
    with pytest.raises(StoreError, match=message):
        store.get_task("t1")
    with pytest.raises(StoreError, match=message):
        store.list_tasks()
    assert store.counts()  # counting does not read bodies


def test_a_corrupt_step_row_is_a_store_error(store: RuntimeStore, runtime_url: str) -> None:
    store.create_task(id="t1", agent="a", input="x")
    store.append_step("t1", 0, "model", {})
    _raw_sql(runtime_url, "UPDATE agentform_steps SET data = 'garbage' WHERE seq = 0")
    with pytest.raises(StoreError, match="step 0 of task t1 is corrupt in the runtime store"):
        store.steps("t1")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "unsupported runtime store URL"),
        ("sqlite:///relative/runtime.db", "must name an absolute file path"),
        ("sqlite:///:memory:", "must name an absolute file path"),
        ("not a url", r"cannot open the runtime store \(unparsable URL\)"),
    ],
    ids=["mysql", "relative", "memory", "garbage"],
)
def test_unusable_urls_are_store_errors(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        RuntimeStore(url)


def test_unreachable_postgresql_is_a_clear_store_error() -> None:
    url = f"postgresql+psycopg://agentform:s3cret@127.0.0.1:{_closed_port()}/agentform"
    with pytest.raises(StoreError) as caught:
        RuntimeStore(url)
    message = str(caught.value)
    assert message.startswith("cannot open the runtime store postgresql+psycopg://agentform:***@")
    assert "check the URL and that the database is reachable" in message
    assert "s3cret" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_database_that_goes_away_is_a_store_error(tmp_path: Path) -> None:
    with RuntimeStore(f"sqlite:///{tmp_path / 'runtime.db'}") as store:
        store.create_task(id="t1", agent="a", input="x")
        _raw_sql(f"sqlite:///{tmp_path / 'runtime.db'}", "DROP TABLE agentform_tasks")
        with pytest.raises(
            StoreError, match=r"the runtime store sqlite:///.* failed: no such table"
        ):
            store.get_task("t1")


def test_a_closed_store_says_so(runtime_url: str) -> None:
    store = RuntimeStore(runtime_url)
    store.close()
    store.close()  # twice is fine
    with pytest.raises(StoreError, match="the runtime store is closed"):
        store.get_task("t1")


def test_stores_on_one_url_share_and_outlive_each_other(runtime_url: str) -> None:
    with RuntimeStore(runtime_url) as one:
        with RuntimeStore(runtime_url) as two:
            one.create_task(id="t1", agent="a", input="x")
            assert two.get_task("t1") is not None
        assert one.get_task("t1") is not None  # closing two left one's engine open


def test_sqlite_parent_directory_is_created(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "runtime.db"
    with RuntimeStore(f"sqlite:///{path}") as store:
        store.create_task(id="t1", agent="a", input="x")
    assert path.exists()


# concurrency

WORKER = textwrap.dedent(
    """
    import json, sys
    from agentform.runtime.store import RuntimeStore, TaskStatus
    url, me, tasks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    won = []
    with RuntimeStore(url) as store:
        for i in range(tasks):
            task_id = f"shared{i}"
            store.start_attempt(task_id, f"w{me}")
            store.append_step(task_id, me, "model", {"by": me}, input_tokens=1, output_tokens=2)
            store.append_step(task_id, 100, "final", {"by": me}, input_tokens=10)
            if store.finish_task(task_id, TaskStatus.COMPLETED, result=f"w{me}"):
                won.append(task_id)
    print(json.dumps(won))
    """
)


def test_processes_share_one_database_without_lost_updates(
    store: RuntimeStore, runtime_url: str
) -> None:
    processes, tasks = 4, 50  # 4 processes x 200 writes, all on the same 50 rows
    for i in range(tasks):
        store.create_task(id=f"shared{i}", agent="a", input="x")
    children = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, runtime_url, str(me), str(tasks)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me in range(processes)
    ]
    outputs = [child.communicate(timeout=120) for child in children]
    for child, (_out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
        assert err == ""
    winners = {
        task_id: f"w{me}" for me, (out, _) in enumerate(outputs) for task_id in json.loads(out)
    }
    assert len(winners) == tasks  # every task finished exactly once
    assert sum(len(json.loads(out)) for out, _ in outputs) == tasks
    for i in range(tasks):
        task = store.get_task(f"shared{i}")
        assert task is not None and task.status is TaskStatus.COMPLETED
        assert task.result == winners[f"shared{i}"]
        assert 1 <= task.attempts <= processes
        # one token pair per process, plus the final step's 10 counted once
        assert (task.input_tokens, task.output_tokens) == (processes + 10, 2 * processes)
        assert [s.seq for s in store.steps(f"shared{i}")] == [*range(processes), 100]


def test_threads_share_one_store(store: RuntimeStore) -> None:
    store.create_task(id="t1", agent="a", input="x")
    errors: list[BaseException] = []

    def record(offset: int) -> None:
        try:
            for seq in range(offset, offset + 25):
                store.append_step("t1", seq, "note", {"seq": seq}, input_tokens=1)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(n * 25,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    task = store.get_task("t1")
    assert task is not None and task.input_tokens == 200
    assert [s.seq for s in store.steps("t1")] == list(range(200))


def test_an_older_database_gets_the_turn_index_and_the_turn_query_uses_it(tmp_path: Path) -> None:
    """Whose turn it is must not scan every task of the agent (it is asked at every start)."""
    import sqlite3

    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    RuntimeStore(url).close()
    _raw_sql(url, "DROP INDEX ix_agentform_tasks_turn")  # a database made before the index
    with RuntimeStore(url) as store:
        store.create_task(id="t1", agent="a", input="x", context_id="c")
        assert store.start_turn("t1", "w").task is not None
    raw = sqlite3.connect(path)
    try:
        names = {row[1] for row in raw.execute("PRAGMA index_list('agentform_tasks')")}
        assert "ix_agentform_tasks_turn" in names
        plan = " ".join(
            str(row[3])
            for row in raw.execute(
                "EXPLAIN QUERY PLAN SELECT t.id FROM agentform_tasks t JOIN agentform_tasks me"
                " ON me.id = 'x' AND t.agent = me.agent AND t.context_id = me.context_id"
                " WHERE t.id != 'x' AND t.status NOT IN ('completed')"
                " AND (t.created_at < me.created_at OR t.created_at = me.created_at AND t.id < 'x')"
                " ORDER BY t.created_at, t.id LIMIT 1"
            )
        )
    finally:
        raw.close()
    assert "ix_agentform_tasks_turn" in plan


def test_task_messages_carry_the_recorded_hint_only_when_set() -> None:
    from agentform.runtime.bus import TaskMessage

    plain = TaskMessage("t1", "a", "hi", "c", {"k": 1}, None)
    assert b"recorded" not in plain.encode()  # what other publishers send: unchanged
    assert TaskMessage.decode(plain.encode()) == plain
    hinted = TaskMessage("t1", "a", "hi", "c", {}, "p", recorded=True)
    assert TaskMessage.decode(hinted.encode()) == hinted
    # only a true boolean counts: anything else is no hint (the task is recorded if missing)
    odd = b'{"id": "t", "agent": "a", "input": "", "context_id": "c", "recorded": "yes"}'
    assert TaskMessage.decode(odd).recorded is False


def test_sqlite_connections_keep_temporary_data_in_memory(tmp_path: Path) -> None:
    # WAL (readers do not block the writer), no fsync per commit, and no temporary files:
    # SQLite otherwise opens and deletes one under /var/tmp for some multi-row writes
    with RuntimeStore(f"sqlite:///{tmp_path}/rt.db") as store:
        assert store._engine is not None
        with store._engine.connect() as conn:
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "temp_store")
            }
    assert pragmas == {"journal_mode": "wal", "synchronous": 1, "temp_store": 2}


# -- who asked ------------------------------------------------------------------------------


def test_the_caller_is_recorded_and_filtered_on(store: RuntimeStore) -> None:
    store.create_task(id="by-op", agent="a", input="x", caller="operator")
    store.create_task(id="by-lee", agent="a", input="x", caller="lee")
    store.create_task(id="by-none", agent="a", input="x")
    assert store.get_task("by-lee").caller == "lee"  # type: ignore[union-attr]
    assert store.get_task("by-none").caller is None  # type: ignore[union-attr]
    assert [t.id for t in store.list_tasks(caller="operator")] == ["by-op"]


def test_a_store_made_before_the_caller_column_gets_it_when_opened(runtime_url: str) -> None:
    """Stores made by an earlier version have no caller column: opening one adds it, and its
    tasks read back with no caller."""
    with RuntimeStore(runtime_url) as opened:
        opened.create_task(id="old", agent="a", input="x")
    _raw_sql(runtime_url, "ALTER TABLE agentform_tasks DROP COLUMN caller")
    with RuntimeStore(runtime_url) as reopened:
        assert reopened.get_task("old").caller is None  # type: ignore[union-attr]
        reopened.create_task(id="new", agent="a", input="x", caller="lee")
        assert reopened.get_task("new").caller == "lee"  # type: ignore[union-attr]
