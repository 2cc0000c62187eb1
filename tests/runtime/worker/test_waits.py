"""Time a task waits for humans is not wall time: after a replay, and for its delegates too.

A task's ``limits.timeout`` counts working time. The wait for an approval is taken off when the
decision is read, and recorded with the call's result, so a task replayed after a crash does not
count it again; a parent does not count what its delegated task (or that task's own delegates)
waited for humans either. Real SQLite runtime store, the fakes of :mod:`agentform.testing`; the
hour of waiting is written into the records rather than waited for.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from agentform.contract import PolicyValue
from agentform.runtime.conversation import ModelResponse, ToolCall
from agentform.runtime.policy.decision import PolicyDecisionPoint
from agentform.runtime.policy.holding import Holds
from agentform.runtime.store import RuntimeStore, TaskStatus
from agentform.runtime.store.approvals import ApprovalBook, approvals_table
from agentform.runtime.store.tables import steps_table
from agentform.runtime.worker.delegation import Delegates
from agentform.runtime.worker.loop import AgentLoop, Limits
from agentform.testing import FakeModel, FakeToolbox

HELD = {"held": PolicyValue(tools=["refund"], effect="require_approval", approvers=["lead"])}
HOUR = timedelta(hours=1)


class Crash(BaseException):
    """The worker dying after a step was written."""


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runtime.db'}"


@pytest.fixture
def store(url: str) -> Iterator[RuntimeStore]:
    with RuntimeStore(url) as opened:
        yield opened


def call(name: str, **arguments: Any) -> ModelResponse:
    return ModelResponse(tool_calls=(ToolCall("c1", name, arguments),))


def run(store: RuntimeStore, book: ApprovalBook, model: FakeModel, task_id: str = "t1",
        delegates: Delegates | None = None) -> Any:  # fmt: skip
    point = PolicyDecisionPoint("a", HELD)
    loop = AgentLoop(
        store=store,
        model=model,
        tools=FakeToolbox({"refund": lambda a: "refunded"}, {"refund": "unsafe"}),
        instructions="Refund.",
        limits=Limits(timeout=600),  # ten minutes of work
        policy=point,
        holds=Holds(book, point),
        delegates=delegates,
    )
    task = store.start_attempt(task_id, "worker-1") or store.get_task(task_id)
    assert task is not None
    return asyncio.run(loop.run(task))


def began_an_hour_ago(store: RuntimeStore, url: str, task_id: str) -> None:
    """The task's start step says it started an hour ago (what an hour's wait looks like)."""
    [start] = [s for s in store.steps(task_id) if s.kind == "start"]
    data = {**start.data, "started_at": time.time() - HOUR.total_seconds()}
    engine = store._engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(
            update(steps_table)
            .where(steps_table.c.task_id == task_id, steps_table.c.seq == start.seq)
            .values(data=json.dumps(data))
        )


def asked_an_hour_ago(book: ApprovalBook, id: str) -> None:
    with book._begin() as conn:
        conn.execute(
            update(approvals_table)
            .where(approvals_table.c.id == id)
            .values(created_at=datetime.now(UTC) - HOUR)
        )


def test_an_approval_wait_stays_off_the_wall_time_after_a_crash(
    store: RuntimeStore, url: str
) -> None:
    book = ApprovalBook(url)
    store.create_task(id="t1", agent="a", input="refund 500")
    first = run(store, book, FakeModel([call("refund", amount=500)]))
    assert first.approval == "t1/c1"
    began_an_hour_ago(store, url, "t1")
    asked_an_hour_ago(book, "t1/c1")
    assert book.decide("t1/c1", "approved", by="lee") is not None
    # approved an hour later: the call is made, then the worker dies before the next answer
    with pytest.raises(Crash):
        run(store, book, FakeModel([Crash()]))
    [result] = [s.data for s in store.steps("t1") if s.kind == "tool_result"]
    assert result["content"] == "refunded" and result["waited"] >= 3599
    # replayed by another worker: the hour is still not working time
    outcome = run(store, book, FakeModel([ModelResponse(text="refunded 500")]))
    assert outcome.completed, outcome.text


def test_a_parent_does_not_count_what_its_delegate_waited_for_humans(
    store: RuntimeStore, url: str
) -> None:
    book = ApprovalBook(url)
    store.create_task(id="t1", agent="a", input="get it refunded")

    async def submit(child: str, agent: str, message: str, *_: Any) -> None:
        store.create_task(id=child, agent=agent, input=message, parent_id="t1")

    delegates = Delegates({"billing": "refunds"}, submit=submit)
    first = run(store, book, FakeModel([call("billing", message="refund 500")]),
                delegates=delegates)  # fmt: skip
    assert first.waiting
    [child] = store.list_tasks(parent_id="t1")
    # the child waited an hour for a support lead, then finished
    held = book.request(task_id=child.id, call_id="r1", agent="billing", tool="refund",
                        function="refund", arguments={}, args_digest="x", policies=["held"],
                        approvers=["lead"], reason="held", timeout=None)  # fmt: skip
    asked_an_hour_ago(book, held.id)
    book.decide(held.id, "approved", by="lee")
    store.start_attempt(child.id, "worker-2")
    store.finish_task(child.id, TaskStatus.COMPLETED, result="refunded")
    began_an_hour_ago(store, url, "t1")
    outcome = run(store, book, FakeModel([ModelResponse(text="billing refunded it")]),
                  delegates=delegates)  # fmt: skip
    assert outcome.completed, outcome.text
    [result] = [s.data for s in store.steps("t1") if s.kind == "tool_result"]
    assert result["waited"] >= 3599


def test_without_a_wait_an_hour_is_past_the_wall_time(store: RuntimeStore, url: str) -> None:
    """The same parent whose delegate waited for nobody: the hour counts, and it fails."""
    book = ApprovalBook(url)
    store.create_task(id="t1", agent="a", input="get it refunded")

    async def submit(child: str, agent: str, message: str, *_: Any) -> None:
        store.create_task(id=child, agent=agent, input=message, parent_id="t1")

    delegates = Delegates({"billing": "refunds"}, submit=submit)
    run(store, book, FakeModel([call("billing", message="refund 500")]), delegates=delegates)
    [child] = store.list_tasks(parent_id="t1")
    store.start_attempt(child.id, "worker-2")
    store.finish_task(child.id, TaskStatus.COMPLETED, result="refunded")
    began_an_hour_ago(store, url, "t1")
    outcome = run(store, book, FakeModel([ModelResponse(text="late")]), delegates=delegates)
    assert not outcome.completed and "wall-time limit of 600s" in outcome.text
