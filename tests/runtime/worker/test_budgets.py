"""The project's budgets across tasks (``limits`` at the top of the spec), in the agent loop.

Real runtime stores (SQLite and PostgreSQL: the counters every replica shares), the fake model
and toolbox of :mod:`agentform.testing`. What one caller spends stops that caller's next task
and not another's; the project's budget stops everyone; a delegated task is paid for by the
caller who started the chain; two loops on one database share the counts.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from agentform.contract.values import ProjectLimits
from agentform.runtime.conversation import ModelResponse, ToolCall
from agentform.runtime.policy.budgets import Budgets, BudgetSpent, Usage
from agentform.runtime.store import RuntimeStore
from agentform.runtime.store.ratelimits import Limiter
from agentform.runtime.worker.loop import AgentLoop, Limits
from agentform.testing import FakeModel, FakeToolbox


def priced(text: str, cost: float) -> ModelResponse:
    return ModelResponse(text=text, input_tokens=100, output_tokens=50, cost_usd=cost)


def lookup(n: int) -> ModelResponse:
    return ModelResponse(tool_calls=(ToolCall(f"c{n}", "lookup", {"n": n}),), input_tokens=1)


@pytest.fixture(params=["store", "limiter"])
def counted(request: pytest.FixtureRequest) -> str:
    """How the budgets are counted: in the store's shared writes (a worker), or by a limiter
    on a thread (the engine)."""
    return str(request.param)


def budgets_of(limits: ProjectLimits, url: str, store: RuntimeStore, counted: str) -> Budgets:
    if counted == "store":
        return Budgets(limits, None, store=store)
    return Budgets(limits, Limiter(url))


def run(store: RuntimeStore, url: str, limits: ProjectLimits, task_id: str, model: FakeModel,
        tools: FakeToolbox | None = None, counted: str = "limiter") -> Any:  # fmt: skip
    loop = AgentLoop(
        store=store,
        model=model,
        tools=tools or FakeToolbox({"lookup": lambda a: "found"}),
        instructions="Answer.",
        limits=Limits(),
        budgets=budgets_of(limits, url, store, counted),
    )
    task = store.start_attempt(task_id, "worker-1") or store.get_task(task_id)
    assert task is not None
    return asyncio.run(loop.run(task))


def test_a_callers_cost_budget_stops_their_next_task_only(runtime_url: str, counted: str) -> None:
    limits = ProjectLimits.model_validate({"per_caller": {"max_cost_usd": 0.05}})
    with RuntimeStore(runtime_url) as store:
        for n, caller in enumerate(["tina", "tina", "lee"]):
            store.create_task(id=f"t{n}", agent="a", input="hi", caller=caller)
        first = run(store, runtime_url, limits, "t0", FakeModel([priced("one", 0.06)]), None,
                    counted)  # fmt: skip
        assert first.completed  # spent past the budget by its last step: it is booked
        second = run(store, runtime_url, limits, "t1", FakeModel([priced("two", 0.01)]), None,
                     counted)  # fmt: skip
        assert not second.completed
        assert "caller tina's budget of $0.05 per 1d is spent" in second.text
        assert "limits.per_caller.max_cost_usd" in second.text
        third = run(store, runtime_url, limits, "t2", FakeModel([priced("three", 0.01)]), None,
                    counted)  # fmt: skip
        assert third.completed  # another caller


def test_the_project_budget_stops_everyone_and_counts_tool_calls(
    runtime_url: str, counted: str
) -> None:
    limits = ProjectLimits.model_validate({"project": {"max_tool_calls": 3}})
    made: list[int] = []
    tools = FakeToolbox({"lookup": lambda a: made.append(1) or "found"})
    with RuntimeStore(runtime_url) as store:
        store.create_task(id="t0", agent="a", input="hi", caller="tina")
        store.create_task(id="t1", agent="a", input="hi", caller="lee")
        model = FakeModel([lookup(0), lookup(1), priced("done", 0)])
        first = run(store, runtime_url, limits, "t0", model, tools, counted)
        assert first.completed
        model = FakeModel([lookup(2), lookup(3), priced("done", 0)])
        second = run(store, runtime_url, limits, "t1", model, tools, counted)
        assert not second.completed
        assert "the project's budget of 3 tool calls per 1d is spent" in second.text
        assert len(made) == 3  # the fourth call was never made


def test_a_delegated_task_is_paid_for_by_the_chains_first_caller(runtime_url: str) -> None:
    limits = ProjectLimits.model_validate({"per_caller": {"max_steps": 5}})
    with RuntimeStore(runtime_url) as store:
        store.create_task(id="root", agent="a", input="hi", caller="tina")
        store.create_task(id="child", agent="b", input="hi", caller="agent:a", parent_id="root")
        store.create_task(id="grandchild", agent="c", input="hi", caller="agent:b",
                          parent_id="child")  # fmt: skip
        budgets = Budgets(limits, Limiter(runtime_url))
        found = store.get_task("grandchild")
        assert found is not None
        assert asyncio.run(budgets.payer(store, found)) == "tina"


def test_two_replicas_share_the_counts(runtime_url: str) -> None:
    """Two Budgets on one database (two workers, or a worker and the engine): what one
    books, the other sees, whichever way each counts."""
    limits = ProjectLimits.model_validate({"per_caller": {"max_tokens": 1000}, "window": "1h"})
    store = RuntimeStore(runtime_url)
    one, two = Budgets(limits, None, store=store), Budgets(limits, Limiter(runtime_url))
    asyncio.run(one.book("tina", Usage(tokens=600)))
    asyncio.run(two.check("tina"))  # 600 of 1000: room left
    asyncio.run(two.book("tina", Usage(tokens=600)))
    with pytest.raises(BudgetSpent) as spent:
        asyncio.run(one.check("tina"))
    assert "caller tina's budget of 1000 tokens per 1h is spent" in str(spent.value)
    assert 0 < spent.value.retry_after <= 3600
    asyncio.run(one.check("lee"))  # someone else
    with pytest.raises(BudgetSpent):
        asyncio.run(two.check("tina"))
    store.close()


def test_the_window_resets_the_budget(runtime_url: str, counted: str) -> None:
    limits = ProjectLimits(window=timedelta(seconds=1), project={"max_steps": 1})  # type: ignore[arg-type]
    store = RuntimeStore(runtime_url)
    budgets = budgets_of(limits, runtime_url, store, counted)
    asyncio.run(budgets.book("x", Usage(steps=1)))
    with pytest.raises(BudgetSpent):
        asyncio.run(budgets.check("x"))
    import time

    time.sleep(1.2)
    asyncio.run(budgets.check("x"))
    store.close()


def test_counters_that_cannot_be_used_refuse(tmp_path: Any) -> None:
    limiter = Limiter(f"sqlite:///{tmp_path / 'gone.db'}")
    limiter.close()
    budgets = Budgets(ProjectLimits.model_validate({"project": {"max_steps": 9}}), limiter)
    with pytest.raises(BudgetSpent) as refused:
        asyncio.run(budgets.check("x"))
    assert "cannot be checked" in str(refused.value)


def test_counters_that_cannot_be_used_in_the_store_refuse(runtime_url: str) -> None:
    """A worker's budgets, counted in the store's writes: the counters' table gone, the check
    and the booking refuse with the reason (the task fails), never let the step through."""
    import sqlalchemy

    limits = ProjectLimits.model_validate({"project": {"max_steps": 9}})
    with RuntimeStore(runtime_url) as store:
        engine = sqlalchemy.create_engine(runtime_url)
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("DROP TABLE agentform_rate"))
        engine.dispose()
        budgets = Budgets(limits, None, store=store)
        with pytest.raises(BudgetSpent) as refused:
            asyncio.run(budgets.check("x"))
        assert "so the budgets cannot be checked" in str(refused.value)
        with pytest.raises(BudgetSpent) as unbooked:
            asyncio.run(budgets.book("x", Usage(steps=1)))
        assert "cannot be counted" in str(unbooked.value)


def test_no_budget_declared_checks_nothing() -> None:
    budgets = Budgets(ProjectLimits.model_validate({"timeout": "5m"}), None)
    assert not budgets
    asyncio.run(budgets.check("x"))
    asyncio.run(budgets.book("x", Usage(steps=1)))


def test_the_project_timeout_is_a_ceiling_on_every_agent() -> None:
    from agentform.contract.values import AgentLimits

    project = ProjectLimits.model_validate({"timeout": "30s"})
    assert Limits.of(AgentLimits.model_validate({"timeout": "5m"}), project).timeout == 30
    assert Limits.of(AgentLimits.model_validate({"timeout": "10s"}), project).timeout == 10
    assert Limits.of(AgentLimits(), project).timeout == 30
    assert Limits.of(AgentLimits(), None).timeout is None


@pytest.mark.parametrize(
    ("own", "project", "limit"),
    [(None, None, 5), (3, None, 3), (None, 2, 2), (4, 2, 2), (1, 4, 1)],
    ids=["defaults", "own", "project", "project-tighter", "own-tighter"],
)
def test_the_project_max_depth_is_a_ceiling_on_every_agent(
    own: int | None, project: int | None, limit: int
) -> None:
    from agentform.contract.values import AgentLimits
    from agentform.runtime.worker.delegation import depth_limit

    ceiling = ProjectLimits(max_depth=project) if project else None
    assert depth_limit(AgentLimits(max_depth=own), ceiling) == limit
