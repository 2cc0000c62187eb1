"""Circuit breakers: identical calls, repeated sequences, ping-pong and call rate stop an agent.

The decisions alone (:class:`agentform.runtime.policy.breaker.Breaker`) as tables, then the agent
loop with each ``on_trip`` action against a real runtime store (SQLite; the call rate and the
open breaker on PostgreSQL too, where replicas share them): the trip is a recorded step, the
tool is not called past the limit, and the action is taken (fail with the reason, ask a human,
go on with the fallback model).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from agentform.contract.values import CircuitBreaker
from agentform.runtime.conversation import ModelResponse, ToolCall
from agentform.runtime.policy.breaker import Breaker, alternations, marks_of
from agentform.runtime.policy.decision import PolicyDecisionPoint
from agentform.runtime.policy.holding import Holds
from agentform.runtime.store import RuntimeStore, TaskStatus
from agentform.runtime.store.approvals import ApprovalBook
from agentform.runtime.store.breakers import BreakerBook
from agentform.runtime.worker.delegation import Delegates
from agentform.runtime.worker.loop import AgentLoop, Limits
from agentform.testing import FakeModel, FakeToolbox


def calls(*names: str) -> list[ToolCall]:
    """Tool calls named as written: ``"a"`` is a() and ``"a1"`` is a(n=1)."""
    out = []
    for i, text in enumerate(names):
        name, n = text[0], text[1:]
        out.append(ToolCall(f"c{i}", name, {"n": int(n)} if n else {}))
    return out


@pytest.mark.parametrize(
    ("history", "identical", "tripped"),
    [
        (["a", "a", "a"], 3, None),  # three identical: the limit, allowed
        (["a", "a", "a", "a"], 3, "identical_calls"),  # the fourth trips
        (["a1", "a2", "a3", "a4"], 3, None),  # other arguments: not the same call
        (["a", "b", "a", "b", "a", "b"], 3, None),  # a two-call sequence three times
        (["a", "b", "a", "b", "a", "b", "a"], 3, "repeated_sequence"),  # a fourth run
        (["a", "b", "c", "a", "b", "c", "a", "b", "c", "a"], 9, "repeated_sequence"),
        (["a", "b", "c", "a", "b", "d", "a", "b", "c", "a"], 9, None),  # not in a row
        (["a", "b", "c", "a", "b", "d", "a", "b", "c", "a"], 3, "identical_calls"),
        (["a1", "b", "a2", "b", "a3", "b", "a4"], 9, None),  # arguments differ each time
    ],
    ids=[
        "three-identical",
        "fourth-identical",
        "other-arguments",
        "sequence-three-times",
        "sequence-fourth-run",
        "three-call-sequence",
        "not-in-a-row",
        "not-in-a-row-but-identical",
        "varying-arguments",
    ],
)
def test_which_calls_trip(history: list[str], identical: int, tripped: str | None) -> None:
    breaker = Breaker("a", CircuitBreaker(max_identical_calls=identical))
    made = calls(*history)
    found = breaker.on_call(made, len(made) - 1)
    assert (found.breaker if found else None) == tripped
    if found is not None:
        assert found.action == "fail" and "circuit breaker tripped" in found.reason
    # the marks a task keeps (one more than the call checked: a later call of its answer)
    kept = marks_of([*made, ToolCall("later", "z", {})])
    assert breaker.on_call(made, len(made) - 1, kept) == found


@pytest.mark.parametrize(
    ("chain", "went"),
    [
        (["a"], 0),
        (["a", "b"], 0),
        (["a", "b", "a"], 1),
        (["a", "b", "a", "b"], 1),
        (["a", "b", "a", "b", "a"], 2),
        (["c", "a", "b", "a", "b", "a"], 2),
        (["a", "b", "c", "b"], 1),
        (["a", "a", "a"], 0),
    ],
)
def test_alternations_count_back_and_forth(chain: list[str], went: int) -> None:
    assert alternations(chain) == went


def test_ping_pong_trips_at_its_limit() -> None:
    once = Breaker("b", CircuitBreaker())  # max_ping_pong 1: the first hand back trips
    assert once.on_delegation(["a"], "b") is None
    assert once.on_delegation(["a", "b"], "a") is not None  # a b a
    assert once.on_delegation(["a", "b"], "c") is None  # elsewhere
    twice = Breaker("a", CircuitBreaker(max_ping_pong=2))
    assert twice.on_delegation(["a", "b", "a"], "b") is None  # a b a b: once
    assert twice.on_delegation(["a", "b", "a", "b"], "a") is not None  # a b a b a: twice
    assert Breaker("a", None).on_delegation(["a", "b", "a", "b"], "a") is None


# -- the loop -------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RuntimeStore]:
    with RuntimeStore(f"sqlite:///{tmp_path / 'runtime.db'}") as opened:
        yield opened


def refund(n: int) -> ModelResponse:
    return ModelResponse(
        tool_calls=(ToolCall(f"call_{n}", "refund", {"order": "A-1", "amount": 5}),),
        input_tokens=10,
        output_tokens=5,
    )


def answer(text: str) -> ModelResponse:
    return ModelResponse(text=text, input_tokens=10, output_tokens=5)


def looping(times: int = 10) -> list[ModelResponse | BaseException]:
    return [refund(n) for n in range(times)]


def run(
    store: RuntimeStore,
    model: FakeModel,
    tools: FakeToolbox,
    breaker: Breaker,
    *,
    task_id: str = "t1",
    holds: Holds | None = None,
    fallback: FakeModel | None = None,
    delegates: Delegates | None = None,
) -> Any:
    loop = AgentLoop(
        store=store,
        model=model,
        tools=tools,
        instructions="Refund.",
        limits=Limits(max_steps=50),
        breaker=breaker,
        holds=holds,
        fallback=fallback,
        delegates=delegates,
    )
    task = store.start_attempt(task_id, "worker-1") or store.get_task(task_id)
    assert task is not None
    return asyncio.run(loop.run(task))


def unsafe() -> FakeToolbox:
    return FakeToolbox({"refund": lambda a: "refunded"}, {"refund": "unsafe"})


def test_a_loop_of_identical_unsafe_calls_stops_at_the_limit(store: RuntimeStore) -> None:
    store.create_task(id="t1", agent="a", input="refund A-1")
    tools = unsafe()
    outcome = run(store, FakeModel(looping()), tools, Breaker("a", CircuitBreaker()))
    assert not outcome.completed
    assert "max_identical_calls 3" in outcome.text and "refund" in outcome.text
    assert len(tools.calls) == 3  # the fourth was never made
    steps = store.steps("t1")
    assert [s.kind for s in steps][-2:] == ["trip", "error"]
    trip = steps[-2].data
    assert (trip["breaker"], trip["action"], trip["id"]) == ("identical_calls", "fail", "call_3")
    task = store.get_task("t1")
    assert task is not None and task.status is TaskStatus.FAILED
    assert "circuit breaker tripped" in (task.error or "")


def test_without_a_breaker_the_loop_runs_to_its_step_limit(store: RuntimeStore) -> None:
    """The same model without a breaker: every call is made until max_steps."""
    store.create_task(id="t1", agent="a", input="refund A-1")
    tools = unsafe()
    outcome = run(store, FakeModel(looping(60)), tools, Breaker("a", None))
    assert not outcome.completed and "step limit" in outcome.text
    assert len(tools.calls) == 50


def test_on_trip_fallback_model_refuses_the_call_and_goes_on(store: RuntimeStore) -> None:
    store.create_task(id="t1", agent="a", input="refund A-1")
    tools = unsafe()
    fallback = FakeModel([answer("handled by the fallback")], name="careful")
    breaker = Breaker("a", CircuitBreaker(max_identical_calls=2, on_trip="fallback_model"))
    outcome = run(store, FakeModel(looping()), tools, breaker, fallback=fallback)
    assert outcome.completed and outcome.text == "handled by the fallback"
    assert len(tools.calls) == 2
    kinds = [s.kind for s in store.steps("t1")]
    assert kinds[-5:] == ["model", "trip", "tool_result", "model", "final"]
    refused = store.steps("t1")[-3].data
    assert refused["is_error"] and "fallback model takes over" in refused["content"]
    # the fallback heard why: the refusal is in what it was sent
    assert "circuit breaker tripped" in fallback.seen[0][-1].content


def test_fallback_model_without_a_fallback_fails(store: RuntimeStore) -> None:
    store.create_task(id="t1", agent="a", input="refund A-1")
    breaker = Breaker("a", CircuitBreaker(max_identical_calls=1, on_trip="fallback_model"))
    outcome = run(store, FakeModel(looping()), unsafe(), breaker)
    assert not outcome.completed and "no fallback" in outcome.text


@pytest.mark.parametrize("decision", ["approved", "denied"])
def test_on_trip_ask_human_waits_for_a_decision(
    store: RuntimeStore, runtime_url: str, decision: str
) -> None:
    store.create_task(id="t1", agent="a", input="refund A-1")
    book = ApprovalBook(runtime_url)
    holds = Holds(book, PolicyDecisionPoint("a", {}))
    tools = unsafe()
    breaker = Breaker("a", CircuitBreaker(max_identical_calls=1, on_trip="ask_human"))
    first = run(store, FakeModel(looping(2)), tools, breaker, holds=holds)
    assert first.approval == "t1/call_1#trip" and not first.completed
    assert len(tools.calls) == 1
    [request] = book.list_requests(status="pending")
    assert request.kind == "breaker" and "max_identical_calls 1" in request.reason
    assert [s.kind for s in store.steps("t1")][-1] == "trip"
    # taken again before anyone decided: it lets go again, one request only
    again = run(store, FakeModel([]), tools, breaker, holds=holds)
    assert again.approval == "t1/call_1#trip" and len(book.list_requests()) == 1
    assert book.decide("t1/call_1#trip", decision, by="ops") is not None  # type: ignore[arg-type]
    outcome = run(store, FakeModel([answer("done")]), tools, breaker, holds=holds)
    if decision == "approved":
        assert outcome.completed and len(tools.calls) == 2
    else:
        assert not outcome.completed and len(tools.calls) == 1
        assert "ops did not let the agent go on" in outcome.text


def test_the_call_rate_is_shared_and_opens_the_breaker(runtime_url: str, tmp_path: Path) -> None:
    """Two replicas (two loops, two stores on one database) share max_calls_per_minute; the
    call past it trips and opens the breaker for the cooldown; then it closes."""
    config = CircuitBreaker(max_calls_per_minute=3, cooldown=timedelta(seconds=2))
    made: list[str] = []
    books = []
    with RuntimeStore(runtime_url) as store:
        for n in range(2):
            store.create_task(id=f"t{n}", agent="a", input="go")
        outcomes = []
        for n in range(2):
            book = BreakerBook(runtime_url)
            books.append(book)
            tools = FakeToolbox({"lookup": lambda a: made.append("x") or "ok"})
            model = FakeModel(
                [
                    *(
                        ModelResponse(tool_calls=(ToolCall(f"c{i}", "lookup", {"i": i}),))
                        for i in range(2)
                    ),
                    answer("done"),
                ]
            )
            breaker = Breaker("a", config, store=store, book=book)
            outcomes.append(run(store, model, tools, breaker, task_id=f"t{n}"))
        assert outcomes[0].completed
        assert not outcomes[1].completed and "max_calls_per_minute 3" in outcomes[1].text
        assert len(made) == 3
        opened = books[0].open_until("a")
        assert opened is not None and "more than 3 tool calls" in opened[1]
        # meanwhile every call of the agent trips ("open"), on any replica
        store.create_task(id="t2", agent="a", input="go")
        model = FakeModel([ModelResponse(tool_calls=(ToolCall("c9", "lookup", {"i": 9}),))])
        breaker = Breaker("a", config, store=store, book=books[1])
        blocked = run(store, model, FakeToolbox({"lookup": lambda a: "ok"}), breaker, task_id="t2")
        assert not blocked.completed and "breaker is open until" in blocked.text
        deadline = time.monotonic() + 10
        while books[0].open_until("a") is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert books[0].open_until("a") is None  # the cooldown passed: closed again
        for book in books:
            book.close()


def test_unusable_call_rate_counters_trip_rather_than_admit(runtime_url: str) -> None:
    """The call rate is counted in the store's write; when that fails (the counters' table is
    gone), the call trips with the reason instead of being let through, and is not made."""
    config = CircuitBreaker(max_calls_per_minute=100)
    made: list[str] = []
    with RuntimeStore(runtime_url) as store:
        store.create_task(id="t0", agent="a", input="go")
        book = BreakerBook(runtime_url)
        engine = sqlalchemy.create_engine(runtime_url)
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("DROP TABLE agentform_rate"))
        engine.dispose()
        model = FakeModel([ModelResponse(tool_calls=(ToolCall("c0", "lookup", {}),))])
        tools = FakeToolbox({"lookup": lambda a: made.append("x") or "ok"})
        outcome = run(
            store, model, tools, Breaker("a", config, store=store, book=book), task_id="t0"
        )
        book.close()
    assert not outcome.completed and made == []
    assert "so the call rate cannot be checked" in outcome.text


def test_ping_pong_between_two_agents_is_stopped(store: RuntimeStore) -> None:
    """a -> b -> a -> b already: b's delegation back to a would be the second time back and
    forth, which trips; no child is made."""
    parent = None
    for n, agent in enumerate(["a", "b", "a", "b"]):
        store.create_task(id=f"p{n}", agent=agent, input="over to you", parent_id=parent)
        parent = f"p{n}"
    submitted: list[str] = []

    async def submit(child: str, *args: Any) -> None:
        submitted.append(child)

    model = FakeModel(
        [ModelResponse(tool_calls=(ToolCall("d1", "a", {"message": "over to you"}),))]
    )
    breaker = Breaker("b", CircuitBreaker(max_ping_pong=2))
    outcome = run(
        store,
        model,
        FakeToolbox({}),
        breaker,
        task_id="p3",
        delegates=Delegates(agents={"a": "the other one"}, max_depth=20, submit=submit),  # type: ignore[arg-type]
    )
    assert not outcome.completed and "back and forth between a and b 2 time(s)" in outcome.text
    assert submitted == []
    assert [s.kind for s in store.steps("p3")][-2:] == ["trip", "error"]


def test_a_trip_is_audited(tmp_path: Path) -> None:
    from agentform.runtime.store.audit import AuditLog

    url = f"sqlite:///{tmp_path / 'audited.db'}"
    with RuntimeStore(url) as store:
        store.create_task(id="t1", agent="a", input="refund A-1")
        run(store, FakeModel(looping()), unsafe(), Breaker("a", CircuitBreaker()))
    log = AuditLog(url)
    try:
        trips = log.list(kind="breaker.tripped")
        assert len(trips) == 1 and json.loads(trips[0].data)["breaker"] == "identical_calls"
        assert log.verify()[1] is None
    finally:
        log.close()
