"""The agent loop: records before acting, replays instead of repeating, stops at its limits.

Runs :class:`agentform.runtime.worker.loop.AgentLoop` against a real SQLite runtime store with the
fake model and toolbox from :mod:`agentform.testing`. A "crash" is simulated by making the model or
a tool raise ``SystemExit``-like errors mid-task and then running the task again with a fresh
loop, exactly what a redelivery to another worker does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from agentform.contract import PolicyValue
from agentform.runtime.conversation import ModelResponse, ToolCall
from agentform.runtime.models import PermanentModelError
from agentform.runtime.policy.decision import PolicyDecisionPoint
from agentform.runtime.policy.holding import Holds
from agentform.runtime.store import RuntimeStore, TaskRecord, TaskStatus
from agentform.runtime.store.approvals import ApprovalBook
from agentform.runtime.store.tables import READ_ONLY
from agentform.runtime.worker.delegation import Delegates
from agentform.runtime.worker.loop import AgentLoop, Limits
from agentform.testing import FakeModel, FakeToolbox


class Crash(BaseException):
    """Stands for the worker dying: not an Exception, so nothing in the loop catches it."""


def call(name: str, n: int = 0, **arguments: Any) -> ModelResponse:
    return ModelResponse(
        tool_calls=(ToolCall(f"call_{n}", name, arguments),), input_tokens=10, output_tokens=5
    )


def priced(response: ModelResponse, cost: float) -> ModelResponse:
    return dataclasses.replace(response, cost_usd=cost)


def answer(text: str) -> ModelResponse:
    return ModelResponse(text=text, input_tokens=10, output_tokens=5)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RuntimeStore]:
    with RuntimeStore(f"sqlite:///{tmp_path / 'runtime.db'}") as opened:
        yield opened


def new_task(store: RuntimeStore, text: str = "hello", **inputs: Any) -> TaskRecord:
    task, _ = store.create_task(id="t1", agent="a", input=text, inputs=inputs)
    return task


def run(
    store: RuntimeStore,
    model: FakeModel,
    tools: FakeToolbox,
    *,
    instructions: str = "Be brief.",
    limits: Limits | None = None,
) -> Any:
    loop = AgentLoop(
        store=store, model=model, tools=tools, instructions=instructions, limits=limits or Limits()
    )
    # each run is a delivery, as a worker takes it: a finished task is not taken again
    task = store.start_attempt("t1", "worker-1") or store.get_task("t1")
    assert task is not None
    return asyncio.run(loop.run(task))


def kinds(store: RuntimeStore) -> list[str]:
    return [s.kind for s in store.steps("t1")]


def test_records_every_step_in_order(store: RuntimeStore) -> None:
    new_task(store, "add 2 and 3")
    tools = FakeToolbox({"add": lambda a: str(a["x"] + a["y"])}, {"add": "none"})
    model = FakeModel([call("add", x=2, y=3), answer("5")])
    outcome = run(store, model, tools)
    assert (outcome.completed, outcome.text) == (True, "5")
    assert kinds(store) == ["start", "model", "tool_call", "tool_result", "model", "final"]
    result = store.steps("t1")[3].data
    assert (result["content"], result["is_error"]) == ("5", False)
    # the model saw system, user, its own call, and the tool's result
    assert [m.role for m in model.seen[1]] == ["system", "user", "assistant", "tool"]
    task = store.get_task("t1")
    assert task is not None and (task.input_tokens, task.output_tokens) == (20, 10)


def test_instructions_are_rendered_with_the_task_inputs(store: RuntimeStore) -> None:
    new_task(store, "hi", user={"name": "Ada"})
    model = FakeModel([answer("hello Ada")])
    run(store, model, FakeToolbox({}), instructions="Greet {{ user.name }}.")
    assert model.seen[0][0].content == "Greet Ada."


def test_missing_template_input_fails_the_task_naming_it(store: RuntimeStore) -> None:
    new_task(store, "hi")
    outcome = run(store, FakeModel([]), FakeToolbox({}), instructions="Hi {{ customer.name }}")
    assert not outcome.completed
    assert "customer" in outcome.text and "--input" in outcome.text
    assert kinds(store) == ["error"]


def test_crash_after_tool_result_reuses_the_result(store: RuntimeStore) -> None:
    new_task(store)
    counted: list[str] = []
    tools = FakeToolbox({"count": lambda a: counted.append("x") or str(len(counted))})
    first = FakeModel([call("count"), Crash()])
    with pytest.raises(Crash):
        run(store, first, tools)
    assert kinds(store) == ["start", "model", "tool_call", "tool_result"]
    # redelivered: a new loop replays the records; the model is asked once more, the tool never
    second = FakeModel([answer("counted 1")])
    outcome = run(store, second, tools)
    assert (outcome.completed, outcome.text, counted) == (True, "counted 1", ["x"])
    assert len(second.seen) == 1 and second.seen[0][-1].content == "1"


def test_crash_after_model_answer_does_not_ask_the_model_again(store: RuntimeStore) -> None:
    new_task(store)
    tools = FakeToolbox({"t": lambda a: "ok"}, {"t": "none"})
    first = FakeModel([call("t")])

    async def crash(*args: Any, **kwargs: Any) -> Any:
        raise Crash()

    tools_crashing = FakeToolbox({"t": lambda a: "ok"}, {"t": "none"})
    tools_crashing.call = crash  # type: ignore[method-assign]
    with pytest.raises(Crash):
        run(store, first, tools_crashing)
    assert kinds(store) == ["start", "model", "tool_call"]
    second = FakeModel([answer("done")])
    outcome = run(store, second, tools)
    assert outcome.completed
    # the recorded model answer was reused; the safe tool was called again with the same key
    key = store.steps("t1")[2].data["idempotency_key"]
    assert tools.calls == [("t", {}, key)]
    assert len(second.seen) == 1


def test_unsafe_call_with_unknown_outcome_is_not_repeated(store: RuntimeStore) -> None:
    new_task(store)
    refunds: list[str] = []

    async def crash(*args: Any, **kwargs: Any) -> Any:
        raise Crash()

    crashing = FakeToolbox({"refund": lambda a: "x"}, {"refund": "unsafe"})
    crashing.call = crash  # type: ignore[method-assign]
    with pytest.raises(Crash):
        run(store, FakeModel([call("refund", amount=10)]), crashing)
    tools = FakeToolbox(
        {"refund": lambda a: refunds.append("paid") or "paid"}, {"refund": "unsafe"}
    )
    outcome = run(store, FakeModel([]), tools)
    assert not outcome.completed
    assert "outcome is unknown" in outcome.text and "t1/" in outcome.text
    assert refunds == []
    # and a later redelivery does not change its mind
    again = run(store, FakeModel([]), tools)
    assert (again.completed, again.text) == (False, outcome.text)


def test_finished_task_replays_to_the_same_answer_without_work(store: RuntimeStore) -> None:
    new_task(store)
    run(store, FakeModel([answer("once")]), FakeToolbox({}))
    model = FakeModel([])
    outcome = run(store, model, FakeToolbox({}))
    assert (outcome.text, model.seen) == ("once", [])


def test_unknown_tool_goes_back_to_the_model(store: RuntimeStore) -> None:
    new_task(store)
    model = FakeModel([call("nope"), answer("sorry")])
    outcome = run(store, model, FakeToolbox({"real": lambda a: "x"}))
    assert outcome.completed
    result = store.steps("t1")[3].data
    assert result["is_error"] and "nope" in result["content"]


@pytest.mark.parametrize(
    ("limits", "answers", "reason"),
    [
        (Limits(max_steps=2), [call("t", 0), call("t", 1), call("t", 2)], "step limit"),
        (Limits(max_tool_calls=1), [call("t", 0), call("t", 1)], "tool-call limit"),
        (Limits(max_tokens=20), [call("t", 0), call("t", 1), call("t", 2)], "token limit"),
        (
            Limits(max_cost_usd=0.01),
            [priced(call("t", 0), 0.006), priced(call("t", 1), 0.006), call("t", 2)],
            "cost limit reached: $0.0120",
        ),
    ],
    ids=["max_steps", "max_tool_calls", "max_tokens", "max_cost_usd"],
)
def test_limits_fail_the_task(
    store: RuntimeStore, limits: Limits, answers: list[ModelResponse], reason: str
) -> None:
    new_task(store)
    outcome = run(store, FakeModel(answers), FakeToolbox({"t": lambda a: "x"}), limits=limits)
    assert not outcome.completed and reason in outcome.text
    assert kinds(store)[-1] == "error"


def test_wall_time_limit(store: RuntimeStore) -> None:
    new_task(store)

    async def slow(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(5)

    tools = FakeToolbox({"t": lambda a: "x"})
    tools.call = slow  # type: ignore[method-assign]
    outcome = run(store, FakeModel([call("t")]), tools, limits=Limits(timeout=0.2))
    assert not outcome.completed and "wall-time limit" in outcome.text


def test_wall_time_limit_stops_a_slow_model(store: RuntimeStore) -> None:
    new_task(store)
    model = FakeModel([answer("late")])
    asked = model.complete

    async def slow(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(5)
        return await asked(*args, **kwargs)

    model.complete = slow  # type: ignore[method-assign]
    outcome = run(store, model, FakeToolbox({}), limits=Limits(timeout=0.2))
    assert not outcome.completed and "wall-time limit of 0.2s" in outcome.text
    assert kinds(store)[-1] == "error"


def test_model_failure_fails_the_task_with_the_reason(store: RuntimeStore) -> None:
    new_task(store)
    model = FakeModel([PermanentModelError("malformed response from http://x: not JSON")])
    outcome = run(store, model, FakeToolbox({}))
    assert not outcome.completed and "malformed response" in outcome.text


def test_limits_from_spec_values() -> None:
    limits = Limits.from_values(
        {"max_steps": 3, "timeout": "1m30s", "max_tokens": None, "max_cost_usd": 0.05}
    )
    assert limits == Limits(max_steps=3, timeout=90.0, max_cost_usd=0.05)


def test_a_canceled_task_stops_before_its_next_step(store: RuntimeStore) -> None:
    new_task(store)
    calls: list[str] = []

    def tool(arguments: Any) -> str:
        # someone cancels while the tool runs: the model is not asked again
        store.finish_task("t1", TaskStatus.CANCELED, error="canceled on request")
        calls.append("ran")
        return "x"

    model = FakeModel([call("t"), answer("never")])
    outcome = run(store, model, FakeToolbox({"t": tool}, {"t": "none"}))
    assert (outcome.completed, outcome.canceled) == (False, True)
    assert calls == ["ran"] and len(model.seen) == 1
    task = store.get_task("t1")
    assert task is not None and task.status is TaskStatus.CANCELED


def test_a_direct_answer_is_one_write_with_its_start_and_end(
    store: RuntimeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """start, model and final are written together, with the task's end: one transaction."""
    new_task(store)
    writes: list[list[str]] = []
    real = store.finish_with_steps_batched

    async def spy(task_id: str, steps: Any, *args: Any, **kwargs: Any) -> Any:
        writes.append([s.kind for s in steps])
        return await real(task_id, steps, *args, **kwargs)

    async def extra(*args: Any, **kwargs: Any) -> Any:
        pytest.fail("an extra write")

    monkeypatch.setattr(store, "finish_with_steps_batched", spy)
    monkeypatch.setattr(store, "append_steps_batched", extra)
    writing: list[bool] = []  # transactions begun for writing (reads carry the read-only option)
    engine: Any = store._engine
    event.listen(
        engine,
        "begin",
        lambda conn: (
            writing.append(True) if not conn.get_execution_options().get(READ_ONLY) else None
        ),
    )
    outcome = run(store, FakeModel([answer("hi")]), FakeToolbox({}))
    assert (outcome.completed, outcome.text) == (True, "hi")
    assert writes == [["start", "model", "final"]]
    assert len(writing) == 2  # the delivery's start_attempt (in run), then the whole answer
    assert [(s.seq, s.kind) for s in store.steps("t1")] == [
        (0, "start"),
        (1, "model"),
        (2, "final"),
    ]
    task = store.get_task("t1")
    assert task is not None and task.status is TaskStatus.COMPLETED
    assert (task.input_tokens, task.output_tokens) == (10, 5)


def test_the_start_step_is_written_before_a_tool_is_called(store: RuntimeStore) -> None:
    new_task(store)
    seen_records: list[list[str]] = []
    tools = FakeToolbox({"t": lambda a: seen_records.append(kinds(store)) or "ok"}, {"t": "none"})
    outcome = run(store, FakeModel([call("t"), answer("done")]), tools)
    assert outcome.completed
    # when the tool ran, its call (and everything before it) was already recorded
    assert seen_records == [["start", "model", "tool_call"]]


def test_crash_before_the_first_answer_is_recorded_leaves_nothing_to_replay(
    store: RuntimeStore,
) -> None:
    """The model dies mid-answer: nothing was acted on, so nothing is recorded; the next
    delivery builds the start again and asks again, and the records begin with one start."""
    new_task(store)
    with pytest.raises(Crash):
        run(store, FakeModel([Crash()]), FakeToolbox({}))
    assert kinds(store) == []
    second = FakeModel([answer("after the crash")])
    outcome = run(store, second, FakeToolbox({}))
    assert (outcome.completed, outcome.text) == (True, "after the crash")
    assert kinds(store) == ["start", "model", "final"]
    assert [m.role for m in second.seen[0]] == ["system", "user"]


def test_a_model_failure_records_the_start_with_the_error(store: RuntimeStore) -> None:
    new_task(store)
    outcome = run(store, FakeModel([PermanentModelError("no such model")]), FakeToolbox({}))
    assert not outcome.completed and "no such model" in outcome.text
    assert kinds(store) == ["start", "error"]


def test_followers_hear_of_the_start_before_the_model_answers_and_only_once(
    store: RuntimeStore,
) -> None:
    new_task(store)
    heard: list[str] = []

    async def notify(steps: Any) -> None:
        heard.append("+".join(step.kind for step in steps))

    class Listening(FakeModel):
        async def complete(self, messages: Any, tools: Any) -> ModelResponse:
            heard.append("(model asked)")
            return await super().complete(messages, tools)

    loop = AgentLoop(
        store=store,
        model=Listening([answer("hi")]),
        tools=FakeToolbox({}),
        instructions="Be brief.",
        limits=Limits(),
        notify=notify,
    )
    task = store.start_attempt("t1", "w")
    assert task is not None
    outcome = asyncio.run(loop.run(task))
    assert outcome.completed
    # the steps written with the task's end come back with the outcome, to be announced with
    # its status (one event)
    assert heard == ["start", "(model asked)"]
    assert [step.kind for step in outcome.steps] == ["model", "final"]


# -- policies on the tool path --------------------------------------------------------------

CEILING = {
    "ceiling": PolicyValue(tools=["refund"], effect="deny", when="args.amount > 1000"),
    "held": PolicyValue(tools=["refund"], effect="require_approval", when="args.amount > 100"),
}


def run_governed(store: RuntimeStore, model: FakeModel, tools: FakeToolbox) -> Any:
    loop = AgentLoop(
        store=store,
        model=model,
        tools=tools,
        instructions="Refund.",
        limits=Limits(),
        policy=PolicyDecisionPoint("a", CEILING),
    )
    task = store.start_attempt("t1", "worker-1") or store.get_task("t1")
    assert task is not None
    return asyncio.run(loop.run(task))


def test_a_denied_call_is_never_made_and_the_model_hears_why(store: RuntimeStore) -> None:
    new_task(store, "refund 5000")
    tools = FakeToolbox({"refund": lambda a: "refunded"})
    model = FakeModel([call("refund", amount=5000), answer("I cannot refund that much.")])
    outcome = run_governed(store, model, tools)
    assert outcome.completed and outcome.text == "I cannot refund that much."
    assert tools.calls == []  # nothing was sent
    assert kinds(store) == ["start", "model", "tool_result", "model", "final"]
    result = store.steps("t1")[2].data
    assert result["is_error"] is True
    assert result["content"] == (
        "denied by policy 'ceiling' (when args.amount > 1000); the call was not made"
    )
    assert result["decision"]["effect"] == "deny" and result["decision"]["policies"] == ["ceiling"]
    # what the model was told is the refusal
    assert "denied by policy 'ceiling'" in str(model.seen[-1][-1].content)


def test_an_allowed_call_records_its_decision_before_it_is_made(store: RuntimeStore) -> None:
    new_task(store, "refund 50")
    tools = FakeToolbox({"refund": lambda a: "refunded"})
    outcome = run_governed(store, FakeModel([call("refund", amount=50), answer("done")]), tools)
    assert outcome.completed and len(tools.calls) == 1
    assert kinds(store) == ["start", "model", "tool_call", "tool_result", "model", "final"]
    decision = store.steps("t1")[2].data["decision"]
    assert decision["effect"] == "allow" and decision["enforced"] is True


def run_held(store: RuntimeStore, model: FakeModel, tools: FakeToolbox, book: ApprovalBook) -> Any:
    point = PolicyDecisionPoint("a", CEILING)
    loop = AgentLoop(
        store=store,
        model=model,
        tools=tools,
        instructions="Refund.",
        limits=Limits(),
        policy=point,
        holds=Holds(book, point),
    )
    task = store.start_attempt("t1", "worker-1") or store.get_task("t1")
    assert task is not None
    return asyncio.run(loop.run(task))


@pytest.mark.parametrize("decision", ["approved", "denied"])
def test_a_held_call_waits_then_runs_once_or_is_refused(
    store: RuntimeStore, runtime_url: str, decision: str
) -> None:
    """The first attempt files the request and lets go; the next one (after the decision)
    replays to the held call and makes it once, or tells the model it was denied."""
    book = ApprovalBook(runtime_url)  # the requests on SQLite and on PostgreSQL
    new_task(store, "refund 500")
    tools = FakeToolbox({"refund": lambda a: "refunded"}, {"refund": "idempotent"})
    first = run_held(store, FakeModel([call("refund", amount=500)]), tools, book)
    assert first.approval == "t1/call_0" and not first.completed
    assert tools.calls == [] and kinds(store) == ["start", "model", "approval"]
    [request] = book.list_requests(status="pending")
    assert (request.tool, request.arguments, request.policies) == (
        "refund",
        {"amount": 500},
        ["held"],
    )
    # nobody decided yet: taken again, it lets go again without a second request
    again = run_held(store, FakeModel([]), tools, book)
    assert again.approval == "t1/call_0" and len(book.list_requests()) == 1
    assert book.decide("t1/call_0", decision, by="lee", note="checked") is not None  # type: ignore[arg-type]
    outcome = run_held(store, FakeModel([answer("done")]), tools, book)
    assert outcome.completed
    if decision == "approved":
        assert len(tools.calls) == 1
        assert kinds(store)[-4:] == ["tool_call", "tool_result", "model", "final"]
    else:
        assert tools.calls == []
        result = next(s for s in store.steps("t1") if s.kind == "tool_result").data
        assert result["is_error"] and "denied by lee: checked" in result["content"]
    book.close()


def test_a_crash_after_the_decision_does_not_decide_again(store: RuntimeStore) -> None:
    """The decision is recorded with the call; a replay reuses the record, not the policies."""
    new_task(store, "refund 50")

    def crash(_: Any) -> str:
        raise Crash

    with pytest.raises(Crash):
        run_governed(
            store, FakeModel([call("refund", amount=50)]), FakeToolbox({"refund": crash}, {})
        )
    recorded = store.steps("t1")[2]
    assert recorded.kind == "tool_call" and recorded.data["decision"]["effect"] == "allow"
    tools = FakeToolbox({"refund": lambda a: "refunded"}, {"refund": "idempotent"})
    outcome = run_governed(store, FakeModel([answer("done")]), tools)
    assert outcome.completed
    assert [c[2] for c in tools.calls] == [recorded.data["idempotency_key"]]
    assert [s.kind for s in store.steps("t1")].count("tool_call") == 1


# -- policies on delegations and memory calls --------------------------------------------------

GUARDS = {
    "no-refunds-agent": PolicyValue(tools=["agent.refunds"], effect="deny"),
    "hold-escalation": PolicyValue(
        tools=["agent.escalation"], effect="require_approval", approvers=["lead"]
    ),
    "notes-read-only": PolicyValue(
        tools=["memory.notes"], effect="deny", when="function == 'remember'"
    ),
}


def run_delegating(
    store: RuntimeStore,
    model: FakeModel,
    submitted: list[tuple[str, str]],
    book: ApprovalBook | None = None,
    tools: FakeToolbox | None = None,
) -> Any:
    async def submit(child: str, agent: str, message: str, *_: Any) -> None:
        submitted.append((child, agent))
        store.create_task(id=child, agent=agent, input=message, parent_id="t1")

    point = PolicyDecisionPoint("a", GUARDS)
    loop = AgentLoop(
        store=store,
        model=model,
        tools=tools or FakeToolbox({}),
        instructions="Route.",
        limits=Limits(),
        delegates=Delegates({"refunds": "", "escalation": ""}, submit=submit),
        policy=point,
        holds=Holds(book, point) if book is not None else None,
    )
    task = store.start_attempt("t1", "worker-1") or store.get_task("t1")
    assert task is not None
    return asyncio.run(loop.run(task))


def test_a_denied_delegation_makes_no_child(store: RuntimeStore) -> None:
    new_task(store, "refund it")
    submitted: list[tuple[str, str]] = []
    model = FakeModel([call("refunds", message="refund 5"), answer("I may not.")])
    outcome = run_delegating(store, model, submitted)
    assert outcome.completed and outcome.text == "I may not."
    assert submitted == [] and store.list_tasks(parent_id="t1") == []
    [result] = [s.data for s in store.steps("t1") if s.kind == "tool_result"]
    assert result["is_error"] and "denied by policy 'no-refunds-agent'" in result["content"]
    assert result["decision"]["tool"] == "agent.refunds"


def test_a_held_delegation_makes_its_child_once_approved(
    store: RuntimeStore, runtime_url: str
) -> None:
    book = ApprovalBook(runtime_url)
    new_task(store, "escalate")
    submitted: list[tuple[str, str]] = []
    first = run_delegating(store, FakeModel([call("escalation", message="help")]), submitted, book)
    assert first.approval == "t1/call_0" and submitted == []
    [request] = book.list_requests(status="pending")
    assert (request.tool, request.policies) == ("agent.escalation", ["hold-escalation"])
    assert book.decide("t1/call_0", "approved", by="lee") is not None
    second = run_delegating(store, FakeModel([]), submitted, book)
    assert second.waiting and [agent for _, agent in submitted] == ["escalation"]
    [recorded] = [s.data for s in store.steps("t1") if s.kind == "tool_call"]
    assert recorded["decision"]["effect"] == "require_approval" and recorded["child"]
    book.close()


def test_a_policy_governs_a_memory_call(store: RuntimeStore) -> None:
    new_task(store, "remember")
    tools = FakeToolbox(
        {"remember": lambda a: "stored", "recall": lambda a: "[]"},
        {"remember": "idempotent", "recall": "none"},
        owners={"remember": "memory.notes", "recall": "memory.notes"},
    )
    model = FakeModel([call("remember", text="x"), call("recall", 1, query="x"), answer("ok")])
    outcome = run_delegating(store, model, [], tools=tools)
    assert outcome.completed
    assert [c[0] for c in tools.calls] == ["recall"]  # the write was refused
    refused = next(s.data for s in store.steps("t1") if s.kind == "tool_result")
    assert "denied by policy 'notes-read-only'" in refused["content"]


# -- on_unknown_outcome: ask_human -------------------------------------------------------------


def run_asking(
    store: RuntimeStore, model: FakeModel, tools: FakeToolbox, book: ApprovalBook
) -> Any:
    point = PolicyDecisionPoint("a", {})
    loop = AgentLoop(
        store=store,
        model=model,
        tools=tools,
        instructions="Refund.",
        limits=Limits(),
        policy=point,
        holds=Holds(book, point),
        ask_on_unknown=frozenset({"refund"}),
    )
    task = store.start_attempt("t1", "worker-1") or store.get_task("t1")
    assert task is not None
    return asyncio.run(loop.run(task))


@pytest.mark.parametrize("answer_", ["happened", "approved", "denied"])
def test_an_unknown_outcome_waits_for_a_human_then_goes_on_as_answered(
    store: RuntimeStore, runtime_url: str, answer_: str
) -> None:
    book = ApprovalBook(runtime_url)
    new_task(store, "refund 10")
    refunds: list[str] = []

    async def crash(*args: Any, **kwargs: Any) -> Any:
        raise Crash()

    crashing = FakeToolbox({"refund": lambda a: "x"}, {"refund": "unsafe"})
    crashing.call = crash  # type: ignore[method-assign]
    with pytest.raises(Crash):
        run_asking(store, FakeModel([call("refund", amount=10)]), crashing, book)
    [key] = [s.data["idempotency_key"] for s in store.steps("t1") if s.kind == "tool_call"]
    tools = FakeToolbox({"refund": lambda a: refunds.append(a["amount"]) or "paid"})
    waiting = run_asking(store, FakeModel([]), tools, book)
    assert waiting.approval == "t1/call_0#outcome" and refunds == []
    assert kinds(store)[-1] == "outcome_check"
    [request] = book.list_requests(status="pending")
    assert request.kind == "outcome" and key in request.reason
    # taken again before anyone answered: it waits again, without a second request
    assert run_asking(store, FakeModel([]), tools, book).approval == request.id
    assert len(book.list_requests()) == 1 and kinds(store).count("outcome_check") == 1
    note = "refund R-77 went through" if answer_ == "happened" else "checked"
    assert book.decide(request.id, answer_, by="ops", note=note) is not None  # type: ignore[arg-type]
    outcome = run_asking(store, FakeModel([answer("done")]), tools, book)
    if answer_ == "happened":  # the human's finding is the call's result; nothing is repeated
        assert outcome.completed and refunds == []
        result = [s.data for s in store.steps("t1") if s.kind == "tool_result"][-1]
        assert result["content"] == note and not result["is_error"]
    elif answer_ == "approved":  # retry: made again, once, with the same key
        assert outcome.completed and refunds == [10]
        assert [c[2] for c in tools.calls] == [key]
    else:
        assert not outcome.completed and refunds == []
        assert "ops answered that the call failed: checked" in outcome.text
    book.close()


def test_time_waiting_for_a_human_is_not_wall_time(store: RuntimeStore, runtime_url: str) -> None:
    """A held call approved after the task's wall-time limit would have passed goes on: the
    wait counts against the approval_timeout, not the task's timeout."""
    book = ApprovalBook(runtime_url)
    new_task(store, "refund 500")
    tools = FakeToolbox({"refund": lambda a: "refunded"}, {"refund": "idempotent"})
    point = PolicyDecisionPoint("a", CEILING)

    def attempt(model: FakeModel) -> Any:
        loop = AgentLoop(
            store=store,
            model=model,
            tools=tools,
            instructions="Refund.",
            limits=Limits(timeout=1.5),
            policy=point,
            holds=Holds(book, point),
        )
        task = store.start_attempt("t1", "worker-1") or store.get_task("t1")
        assert task is not None
        return asyncio.run(loop.run(task))

    assert attempt(FakeModel([call("refund", amount=500)])).approval == "t1/call_0"
    time.sleep(2.0)  # longer than the task's 1.5 s wall-time limit
    assert book.decide("t1/call_0", "approved", by="lee") is not None
    outcome = attempt(FakeModel([answer("done")]))
    assert outcome.completed, outcome.text
    assert len(tools.calls) == 1
    book.close()


def test_a_memory_call_is_decided_for_the_store_it_names(store: RuntimeStore) -> None:
    """A memory tool serving two stores: the policy on memory.notes governs a call that names
    notes, whichever store the tool lists first."""
    new_task(store, "remember")
    tools = FakeToolbox(
        {"remember": lambda a: "stored"},
        {"remember": "idempotent"},
        owners={"remember": "memory.facts"},  # the first store the tool serves
    )
    model = FakeModel(
        [call("remember", text="x", store="notes"), call("remember", 1, text="y", store="facts"),
         answer("ok")]
    )  # fmt: skip
    assert run_delegating(store, model, [], tools=tools).completed
    assert [c[1]["store"] for c in tools.calls] == ["facts"]  # the call to notes was refused
