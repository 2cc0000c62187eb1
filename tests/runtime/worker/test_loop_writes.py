"""The agent loop's writes around a tool call: the model's answer goes with the call's step, a
safe call's result with the next step; what a crash or a cancel in between leaves behind.

Real SQLite runtime store, the fake model and toolbox from :mod:`agentform.testing`; a crash is
an exception nothing in the loop catches, then the task runs again with a fresh loop (a
redelivery), as in ``test_loop.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentform.contract import PolicyValue
from agentform.runtime.conversation import ModelResponse, ToolCall
from agentform.runtime.policy.decision import PolicyDecisionPoint
from agentform.runtime.policy.holding import Holds
from agentform.runtime.store import RuntimeStore, TaskStatus
from agentform.runtime.store.approvals import ApprovalBook
from agentform.runtime.worker.loop import AgentLoop, Limits
from agentform.testing import FakeModel, FakeToolbox


class Crash(BaseException):
    """The worker dying: not an Exception, so nothing in the loop catches it."""


def call(name: str) -> ModelResponse:
    return ModelResponse(tool_calls=(ToolCall("call_0", name, {}),), input_tokens=3)


def answer(text: str) -> ModelResponse:
    return ModelResponse(text=text, input_tokens=3, output_tokens=1)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runtime.db'}"


@pytest.fixture
def store(url: str) -> Iterator[RuntimeStore]:
    with RuntimeStore(url) as opened:
        opened.create_task(id="t1", agent="a", input="go")
        yield opened


def run(store: RuntimeStore, model: FakeModel, tools: FakeToolbox) -> Any:
    loop = AgentLoop(store=store, model=model, tools=tools, instructions="x", limits=Limits())
    task = store.start_attempt("t1", "w") or store.get_task("t1")
    assert task is not None
    return asyncio.run(loop.run(task))


def kinds(store: RuntimeStore) -> list[str]:
    return [step.kind for step in store.steps("t1")]


@pytest.fixture
def writes(store: RuntimeStore, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The kinds of the steps of each write the loop makes, in order."""
    made: list[list[str]] = []
    for name in ("append_steps_batched", "finish_with_steps_batched"):
        real = getattr(store, name)

        async def spy(task_id: str, steps: Any, *args: Any, _real: Any = real, **kw: Any) -> Any:
            made.append([step.kind for step in steps])
            return await _real(task_id, steps, *args, **kw)

        monkeypatch.setattr(store, name, spy)
    return made


@pytest.mark.parametrize(
    ("side_effects", "expected"),
    [
        ("none", [["start", "model", "tool_call"], ["tool_result", "model", "final"]]),
        ("idempotent", [["start", "model", "tool_call"], ["tool_result", "model", "final"]]),
        ("unsafe", [["start", "model", "tool_call"], ["tool_result"], ["model", "final"]]),
    ],
    ids=["none", "idempotent", "unsafe-result-at-once"],
)
def test_a_tool_call_shares_the_writes_around_it(
    store: RuntimeStore, writes: list[list[str]], side_effects: str, expected: list[list[str]]
) -> None:
    seen: list[list[str]] = []
    tools = FakeToolbox({"t": lambda a: seen.append(kinds(store)) or "ok"}, {"t": side_effects})
    outcome = run(store, FakeModel([call("t"), answer("done")]), tools)
    assert (outcome.completed, outcome.text) == (True, "done")
    assert writes == expected
    assert seen == [["start", "model", "tool_call"]]  # recorded before the call was made
    assert kinds(store) == ["start", "model", "tool_call", "tool_result", "model", "final"]


def test_a_safe_result_lost_in_a_crash_is_called_again_with_the_same_key(
    store: RuntimeStore,
) -> None:
    tools = FakeToolbox({"t": lambda a: "ok"}, {"t": "idempotent"})
    with pytest.raises(Crash):
        run(store, FakeModel([call("t"), Crash()]), tools)
    assert kinds(store) == ["start", "model", "tool_call"]  # the result was not written yet
    second = FakeModel([answer("done")])
    outcome = run(store, second, tools)
    assert (outcome.completed, outcome.text) == (True, "done")
    key = store.steps("t1")[2].data["idempotency_key"]
    assert tools.calls == [("t", {}, key), ("t", {}, key)]
    assert len(second.seen) == 1 and second.seen[0][-1].content == "ok"


def test_an_unsafe_result_survives_a_crash_and_is_not_called_again(store: RuntimeStore) -> None:
    tools = FakeToolbox({"t": lambda a: "paid"}, {"t": "unsafe"})
    with pytest.raises(Crash):
        run(store, FakeModel([call("t"), Crash()]), tools)
    assert kinds(store) == ["start", "model", "tool_call", "tool_result"]
    outcome = run(store, FakeModel([answer("done")]), tools)
    assert outcome.completed and len(tools.calls) == 1


def test_a_cancel_keeps_the_steps_taken_before_it(store: RuntimeStore) -> None:
    def tool(arguments: Any) -> str:
        store.finish_task("t1", TaskStatus.CANCELED, error="canceled on request")
        return "x"

    model = FakeModel([call("t"), answer("never")])
    outcome = run(store, model, FakeToolbox({"t": tool}, {"t": "none"}))
    assert outcome.canceled and len(model.seen) == 1
    # the result held back for the next write is written when the task stops
    assert kinds(store) == ["start", "model", "tool_call", "tool_result"]


def test_the_answer_is_written_before_an_approval_request_is_filed(
    store: RuntimeStore, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request filed for a call the records do not show could outlive a crash that makes
    the model answer differently: what is held back is written before anything else acts."""
    book = ApprovalBook(url)
    seen: list[list[str]] = []
    real = book.request

    def request(**kwargs: Any) -> Any:
        seen.append(kinds(store))
        return real(**kwargs)

    monkeypatch.setattr(book, "request", request)
    point = PolicyDecisionPoint("a", {"held": PolicyValue(tools=["t"], effect="require_approval")})
    loop = AgentLoop(
        store=store, model=FakeModel([call("t")]), tools=FakeToolbox({"t": lambda a: "ok"}),
        instructions="x", limits=Limits(), policy=point, holds=Holds(book, point),
    )  # fmt: skip
    task = store.start_attempt("t1", "w")
    assert task is not None
    outcome = asyncio.run(loop.run(task))
    assert outcome.approval == "t1/call_0"
    assert seen == [["start", "model"]]
    assert kinds(store) == ["start", "model", "approval"]
