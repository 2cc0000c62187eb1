"""Content filters in the agent loop: the input, the answer, tool arguments and results.

Runs :class:`agentform.runtime.worker.loop.AgentLoop` with content filters against a real SQLite
runtime store, the fake model and toolbox; reads what was recorded (the task, its steps) and
audited. A "crash" is a fresh loop running the task again, as a redelivery does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentform.contract import FilterValue
from agentform.runtime.policy.filters import ContentFilters
from agentform.runtime.store import RuntimeStore, TaskStatus
from agentform.runtime.store.audit import AuditLog
from agentform.runtime.worker.loop import AgentLoop, Limits
from agentform.testing import FakeModel, FakeToolbox
from tests.runtime.worker.test_loop import answer, call, kinds, new_task

EMAIL = "ada@example.com"
CARD = "4111 1111 1111 1111"


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runtime.db'}"


@pytest.fixture
def store(url: str) -> Iterator[RuntimeStore]:
    with RuntimeStore(url) as opened:
        yield opened


def screening(**specs: dict[str, Any]) -> ContentFilters:
    return ContentFilters([(n, FilterValue.model_validate(s)) for n, s in specs.items()])


PII = {"detect": ["email"], "action": "redact"}
PCI = {"detect": ["credit_card"], "action": "block"}


def run(store: RuntimeStore, model: FakeModel, tools: FakeToolbox, filters: ContentFilters) -> Any:
    loop = AgentLoop(
        store=store,
        model=model,
        tools=tools,
        instructions="Help.",
        limits=Limits(),
        filters=filters,
    )
    task = store.start_attempt("t1", "worker-1") or store.get_task("t1")
    assert task is not None
    return asyncio.run(loop.run(task))


def audited(url: str) -> list[dict[str, Any]]:
    log = AuditLog(url)
    try:
        return [r.to_dict() for r in reversed(log.list(task="t1"))]
    finally:
        log.close()


def test_an_email_in_the_input_is_redacted_everywhere(store: RuntimeStore, url: str) -> None:
    new_task(store, f"my address is {EMAIL}")
    model = FakeModel([answer(f"noted: {EMAIL}")])
    outcome = run(store, model, FakeToolbox({}), screening(pii=PII))
    assert outcome.completed and outcome.text == "noted: [REDACTED:email]"
    # the model saw the redacted input; the task keeps it
    assert model.seen[0][-1].content == "my address is [REDACTED:email]"
    task = store.get_task("t1")
    assert task is not None and task.input == "my address is [REDACTED:email]"
    assert task.result == "noted: [REDACTED:email]"
    records = json.dumps([s.data for s in store.steps("t1")])
    assert EMAIL not in records
    hits = [r for r in audited(url) if r["kind"] == "filter.hit"]
    assert [(h["data"]["where"], h["data"]["found"]) for h in hits] == [
        ("input", {"email": 1}),
        ("answer", {"email": 1}),
    ]
    assert EMAIL not in json.dumps(audited(url))


def test_a_blocked_input_fails_the_task_before_the_model_sees_it(
    store: RuntimeStore, url: str
) -> None:
    new_task(store, f"charge {CARD}")
    model = FakeModel([answer("never")])
    outcome = run(store, model, FakeToolbox({}), screening(pci=PCI))
    assert not outcome.completed and model.seen == []
    task = store.get_task("t1")
    assert task is not None and task.status is TaskStatus.FAILED
    assert task.error == (
        "the input was blocked by content filter 'pci': it contains credit_card (1);"
        " the task was not run"
    )
    assert CARD not in task.input and kinds(store) == ["error"]
    assert [r["kind"] for r in audited(url)] == ["task.submitted", "filter.hit"]


def test_tool_arguments_are_redacted_before_the_call(store: RuntimeStore, url: str) -> None:
    new_task(store, "write it down")
    tools = FakeToolbox({"note": lambda a: "ok"}, {"note": "none"})
    model = FakeModel([call("note", text=f"mail {EMAIL}"), answer("done")])
    outcome = run(store, model, tools, screening(pii=PII))
    assert outcome.completed
    assert tools.calls[0][1] == {"text": "mail [REDACTED:email]"}
    assert EMAIL not in json.dumps([s.data for s in store.steps("t1")])
    [hit] = [r for r in audited(url) if r["kind"] == "filter.hit"]
    assert hit["data"] == {
        "where": "tool_args",
        "filter": "pii",
        "action": "redact",
        "found": {"email": 1},
        "call": "call_0",
        "function": "note",
    }


def test_a_blocked_call_is_not_made_and_the_model_hears_why(store: RuntimeStore) -> None:
    new_task(store, "pay")
    tools = FakeToolbox({"pay": lambda a: "paid"})
    model = FakeModel([call("pay", card=CARD), answer("could not pay")])
    outcome = run(store, model, tools, screening(pci=PCI))
    assert outcome.completed and tools.calls == []
    assert kinds(store) == ["start", "model", "tool_result", "model", "final"]
    result = store.steps("t1")[2].data
    assert result["is_error"] is True
    assert result["content"] == (
        "the call was blocked by content filter 'pci': its arguments contain credit_card (1);"
        " it was not made"
    )
    assert CARD not in json.dumps([s.data for s in store.steps("t1")])


def test_a_blocked_call_stays_refused_after_a_crash(store: RuntimeStore) -> None:
    class Crash(BaseException):
        """The worker dying mid-call: not an Exception, so nothing in the loop catches it."""

    def dies(arguments: Any) -> str:
        raise Crash

    new_task(store, "pay")
    tools = FakeToolbox({"other": dies}, {"other": "none"})
    model = FakeModel([call("pay", card=CARD), answer("could not pay")])
    # the model step (with the refusal's hits) is written; the worker dies before the refusal
    # (it goes with the refusal since the answer and its first step share a write: the crash
    # below writes it first, as a hold or a stop does)
    loop = AgentLoop(
        store=store, model=model, tools=tools, instructions="x", limits=Limits(),
        filters=screening(pci=PCI),
    )  # fmt: skip
    task = store.start_attempt("t1", "w")
    assert task is not None
    original = loop._tool_result

    async def crash(*args: Any, **kwargs: Any) -> None:
        await loop._flush("t1", args[1])
        raise Crash

    loop._tool_result = crash  # type: ignore[method-assign]
    with pytest.raises(Crash):
        asyncio.run(loop.run(task))
    assert kinds(store) == ["start", "model"]
    loop._tool_result = original  # type: ignore[method-assign]
    again = FakeToolbox({"pay": lambda a: "paid"})
    outcome = run(store, FakeModel([answer("could not pay")]), again, screening(pci=PCI))
    assert outcome.completed and again.calls == []  # the redacted arguments were not sent


def test_tool_results_are_screened_before_the_model_sees_them(store: RuntimeStore) -> None:
    new_task(store, "look up")
    tools = FakeToolbox({"lookup": lambda a: f"owner {EMAIL}, card {CARD}"}, {"lookup": "none"})
    model = FakeModel([call("lookup"), answer("found")])
    run(store, model, tools, screening(pii=PII))
    assert model.seen[1][-1].content == f"owner [REDACTED:email], card {CARD}"
    blocking = screening(pci={**PCI, "apply_to": ["tool_results"]})
    store.create_task(id="t2", agent="a", input="look up")
    task = store.start_attempt("t2", "w")
    assert task is not None
    model = FakeModel([call("lookup"), answer("found")])
    loop = AgentLoop(
        store=store, model=model, tools=tools, instructions="x", limits=Limits(), filters=blocking
    )
    asyncio.run(loop.run(task))
    told = model.seen[1][-1]
    assert told.is_error and "blocked by content filter 'pci'" in told.content
    assert CARD not in told.content


def test_a_blocked_answer_fails_the_task_and_is_never_returned(store: RuntimeStore) -> None:
    new_task(store, "what card?")
    outcome = run(store, FakeModel([answer(f"it is {CARD}")]), FakeToolbox({}), screening(pci=PCI))
    assert not outcome.completed
    assert outcome.text.startswith("the answer was blocked by content filter 'pci'")
    task = store.get_task("t1")
    assert task is not None and task.status is TaskStatus.FAILED and task.result is None
    assert CARD not in json.dumps([s.data for s in store.steps("t1")])


def test_flagged_input_passes_and_is_audited_once(store: RuntimeStore, url: str) -> None:
    new_task(store, f"from {EMAIL}")
    watch = screening(watch={"detect": ["email"], "action": "flag", "apply_to": ["input"]})
    model = FakeModel([answer("ok")])
    run(store, model, FakeToolbox({}), watch)
    assert model.seen[0][-1].content == f"from {EMAIL}"
    # taken again (a redelivery of the ended task): not screened, not audited again
    run(store, FakeModel([]), FakeToolbox({}), watch)
    assert [r["kind"] for r in audited(url)].count("filter.hit") == 1
