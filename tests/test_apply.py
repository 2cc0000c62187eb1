"""Apply against the fake provider and a SQLite store: state per change, failures, retries."""

from __future__ import annotations

import dataclasses
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentform.apply import ApplyEvent, ProtectedResource, StalePlan, apply_plan, spec_revision
from agentform.plan import Action, make_plan
from agentform.provider import (
    ObservedResource,
    PermanentProviderError,
    ResourceValue,
    TemporaryProviderError,
)
from agentform.resources import desired_resources
from agentform.spec.models import Agent, McpServer, Memory, Model, Policy, Schedule, Spec, Tool
from agentform.state.store import StateStore, open_store
from agentform.testing.fake_provider import FakeProvider

REPLACE = {"memory": ["kind"], "model": ["provider"]}


def make_spec(
    agents: dict[str, dict[str, Any]] | None = None,
    memory: dict[str, str] | None = None,
    tools: tuple[str, ...] = ("kb",),
    models: dict[str, str] | None = None,
    policies: dict[str, Policy] | None = None,
    schedules: dict[str, str] | None = None,
) -> Spec:
    agents = {"triage": {"model": "fast", "tools": ["kb"]}} if agents is None else agents
    return Spec(
        version=1,
        project="demo",
        models={n: Model(provider=p) for n, p in (models or {"fast": "scripted"}).items()},  # type: ignore[arg-type]
        tools={t: Tool(mcp=McpServer(command=["python", f"{t}.py"])) for t in tools},
        memory={n: Memory(kind=k) for n, k in (memory or {}).items()},  # type: ignore[arg-type]
        agents={n: Agent(**a) for n, a in agents.items()},
        policies=policies or {},
        schedules={n: Schedule(agent=a, cron="0 9 * * *") for n, a in (schedules or {}).items()},
    )


def observe(provider: FakeProvider, store: StateStore) -> dict[str, ObservedResource | None]:
    snapshot = store.read()
    assert snapshot is not None
    return {a: provider.read(a, r.id or "") for a, r in snapshot.resources.items()}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with open_store(None, "demo", "dev", tmp_path) as opened:
        yield opened


def converge(
    spec: Spec, provider: FakeProvider, store: StateStore, **options: Any
) -> tuple[Any, Any]:
    plan = make_plan(
        desired_resources(spec),
        store.read(),
        project="demo",
        environment="dev",
        replace_fields=REPLACE,
    )
    return plan, apply_plan(plan, provider, store, backoff=lambda n: 0.0, **options)


def test_apply_then_plan_is_empty(store: StateStore) -> None:
    provider = FakeProvider(replace_fields=REPLACE)
    spec = make_spec(memory={"notes": "session"}, schedules={"weekly": "triage"})
    plan, result = converge(spec, provider, store)
    assert result.ok
    assert sorted(result.created) == sorted(c.address for c in plan.changes)
    again = make_plan(desired_resources(spec), store.read(), observe(provider, store))
    assert not again.has_changes
    assert not again.drift


def test_state_is_written_after_every_change(store: StateStore) -> None:
    provider = FakeProvider(replace_fields=REPLACE)
    plan, result = converge(make_spec(), provider, store, parallelism=1)
    creates = plan.count(Action.CREATE)
    assert [h.serial for h in store.history()] == list(range(1, creates + 1))
    assert result.serial == creates
    # a replace writes twice: once after the delete, once after the create
    plan, result = converge(make_spec(models={"fast": "openai"}), provider, store)
    assert result.replaced == ["model.fast"]
    assert [h.serial for h in store.history()][-1] == creates + 2


def test_a_failure_skips_dependants_and_independent_ones_finish(store: StateStore) -> None:
    provider = FakeProvider()
    provider.fail_next("tool.kb", PermanentProviderError("kb exploded; fix the server"))
    spec = make_spec(
        agents={"triage": {"model": "fast", "tools": ["kb"]}, "ops": {"model": "fast"}},
        schedules={"weekly": "triage"},
    )
    _, result = converge(spec, provider, store)
    assert result.failed == {"tool.kb": "kb exploded; fix the server"}
    assert result.skipped == {
        "agent.triage": "depends on tool.kb, which failed",
        "schedule.weekly": "depends on agent.triage, which was skipped",
    }
    assert "agent.ops" in result.created
    snapshot = store.read()
    assert snapshot is not None
    assert "agent.ops" in snapshot.resources
    assert "agent.triage" not in snapshot.resources
    # the next apply picks up where this one stopped
    _, result = converge(spec, provider, store)
    assert result.ok
    assert sorted(result.created) == ["agent.triage", "schedule.weekly", "tool.kb"]


@pytest.mark.parametrize(
    ("failures", "ok", "sleeps"),
    [(1, True, [2.0]), (3, True, [2.0, 2.0, 2.0]), (4, False, [2.0, 2.0, 2.0])],
    ids=["once", "up-to-retries", "beyond-retries"],
)
def test_temporary_errors_are_retried(
    store: StateStore, failures: int, ok: bool, sleeps: list[float]
) -> None:
    provider = FakeProvider()
    for _ in range(failures):
        provider.fail_next("tool.kb", TemporaryProviderError("rate limited", delay=2.0))
    slept: list[float] = []
    events: list[ApplyEvent] = []
    _, result = converge(
        make_spec(agents={}), provider, store, retries=3, sleep=slept.append, on_event=events.append
    )
    assert slept == sleeps
    assert ("tool.kb" in result.created) is ok
    assert [e.status for e in events if e.address == "tool.kb"].count("retrying") == len(sleeps)
    if not ok:
        assert "still failing after 3 retries" in result.failed["tool.kb"]


def test_a_stale_plan_is_refused(store: StateStore) -> None:
    provider = FakeProvider()
    converge(make_spec(agents={}, tools=("a", "b", "c", "d")), provider, store, parallelism=1)
    snapshot = store.read()
    assert snapshot is not None
    old = snapshot.model_copy(update={"serial": 2})
    plan = make_plan(desired_resources(make_spec()), old)
    with pytest.raises(StalePlan) as caught:
        apply_plan(plan, provider, store)
    latest = snapshot.serial
    assert str(caught.value) == (
        f'plan was made against state serial 2, state is now {latest}; run "agentform plan" again.'
    )
    other = make_plan({}, snapshot.model_copy(update={"lineage": "another"}))
    with pytest.raises(StalePlan, match="lineage"):
        apply_plan(other, provider, store)
    assert [h.serial for h in store.history()][-1] == latest


def test_memory_is_protected_from_deletion(store: StateStore) -> None:
    provider = FakeProvider()
    converge(make_spec(memory={"facts": "long_term"}), provider, store)
    before = store.read()
    with pytest.raises(ProtectedResource, match=r"memory\.facts.*--allow-data-loss"):
        converge(make_spec(), provider, store)
    assert store.read() == before
    _, result = converge(make_spec(), provider, store, allow_data_loss=True)
    assert result.deleted == ["memory.facts"]


def test_an_empty_memory_store_can_be_deleted_without_the_flag(store: StateStore) -> None:
    provider = FakeProvider()
    converge(make_spec(memory={"facts": "long_term"}), provider, store)
    # the provider reports what the store holds: nothing
    (found,) = [o for o in provider.objects.values() if o.address == "memory.facts"]
    found.values["data"] = {"entries": 0, "bytes": 0}
    plan = make_plan(desired_resources(make_spec()), store.read(), observe(provider, store))
    result = apply_plan(plan, provider, store, backoff=lambda n: 0.0)
    assert result.deleted == ["memory.facts"]
    # without a refresh nothing says the store is empty: protected
    converge(make_spec(memory={"facts": "long_term"}), provider, store)
    with pytest.raises(ProtectedResource):
        converge(make_spec(), provider, store)


def test_drift_is_repaired_and_refresh_only_records_it(store: StateStore) -> None:
    provider = FakeProvider()
    spec = make_spec()
    converge(spec, provider, store)
    snapshot = store.read()
    assert snapshot is not None
    provider.out_of_band_change(snapshot.resources["agent.triage"].id or "", {"replicas": 5})
    refresh = make_plan(
        desired_resources(spec), snapshot, observe(provider, store), refresh_only=True
    )
    apply_plan(refresh, provider, store)
    recorded = store.read()
    assert recorded is not None
    assert recorded.resources["agent.triage"].values["replicas"] == 5
    plan = make_plan(desired_resources(spec), recorded, observe(provider, store))
    assert [(c.address, c.reasons) for c in plan.changes if c.action is not Action.NOOP] == [
        ("agent.triage", ("replicas: 5 → 1",))
    ]
    apply_plan(plan, provider, store)
    assert not make_plan(
        desired_resources(spec), store.read(), observe(provider, store)
    ).has_changes


def test_recreates_what_was_deleted_outside(store: StateStore) -> None:
    provider = FakeProvider()
    spec = make_spec()
    converge(spec, provider, store)
    snapshot = store.read()
    assert snapshot is not None
    provider.out_of_band_delete(snapshot.resources["tool.kb"].id or "")
    plan = make_plan(desired_resources(spec), snapshot, observe(provider, store))
    assert [c.address for c in plan.changes if c.action is Action.CREATE] == ["tool.kb"]
    result = apply_plan(plan, provider, store)
    assert result.created == ["tool.kb"]
    assert not make_plan(
        desired_resources(spec), store.read(), observe(provider, store)
    ).has_changes


def test_updates_reach_the_provider(store: StateStore) -> None:
    provider = FakeProvider()
    converge(make_spec(), provider, store)
    _, result = converge(
        make_spec(agents={"triage": {"model": "fast", "replicas": 3}}), provider, store
    )
    assert result.updated == ["agent.triage"]
    live = {o.address: o.values for o in provider.list("agent")}
    assert live["agent.triage"]["replicas"] == 3


# -- property: after apply, a plan is empty -----------------------------------------------------

NAMES = st.sampled_from(["a", "b", "c"])


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    models = draw(st.dictionaries(NAMES, st.sampled_from(["scripted", "openai"]), min_size=1))
    tools = tuple(sorted(draw(st.sets(NAMES))))
    memory = draw(st.dictionaries(NAMES, st.sampled_from(["session", "long_term", "shared"])))
    agents: dict[str, dict[str, Any]] = {}
    for name in sorted(draw(st.sets(NAMES, max_size=3))):
        agents[name] = {
            "model": draw(st.sampled_from(sorted(models))),
            "tools": sorted(draw(st.sets(st.sampled_from(tools)))) if tools else [],
            "memory": sorted(draw(st.sets(st.sampled_from(sorted(memory))))) if memory else [],
            "instructions": draw(st.sampled_from(["", "Help", "Be brief"])),
            "replicas": draw(st.integers(0, 3)),
        }
    for name, agent in agents.items():
        agent["delegates"] = sorted(draw(st.sets(st.sampled_from(sorted(agents)))) - {name})
    policies = {}
    if agents and draw(st.booleans()):
        policies["p"] = Policy(
            agents=[draw(st.sampled_from(sorted(agents)))],
            effect=draw(st.sampled_from(["allow", "deny", "require_approval"])),
        )
    schedules = (
        {"s": draw(st.sampled_from(sorted(agents)))} if agents and draw(st.booleans()) else {}
    )
    return make_spec(agents, memory, tools, models, policies, schedules)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=specs(), second=specs())
def test_after_apply_the_plan_is_empty(first: Spec, second: Spec) -> None:
    with tempfile.TemporaryDirectory() as tmp, open_store(None, "demo", "dev", tmp) as store:
        provider = FakeProvider(replace_fields=REPLACE)
        for spec in (first, second):
            _, result = converge(spec, provider, store, allow_data_loss=True, parallelism=3)
            assert result.ok, (result.failed, result.skipped)
            again = make_plan(
                desired_resources(spec),
                store.read(),
                observe(provider, store),
                replace_fields=REPLACE,
            )
            assert not again.has_changes, [c for c in again.changes if c.action is not Action.NOOP]
            live = {
                o.address: dict(o.values)
                for k in ("agent", "tool", "model", "memory", "policy", "schedule", "runtime")
                for o in provider.list(k)
            }
            assert live == {a: dict(v.values) for a, v in desired_resources(spec).items()}


def test_resource_value_round_trip_through_state(store: StateStore) -> None:
    value = ResourceValue.of("tool.kb", {"nested": {"list": [1, 2]}, "n": 1.5})
    plan = make_plan({"tool.kb": value}, None, project="demo", environment="dev")
    apply_plan(plan, FakeProvider(), store)
    assert not make_plan({"tool.kb": value}, store.read()).has_changes


def test_changes_run_in_parallel_but_never_before_what_they_wait_for(store: StateStore) -> None:
    provider = FakeProvider(latency=0.02)
    spec = make_spec(
        agents={f"a{i}": {"model": "fast", "tools": ["kb"]} for i in range(4)},
        tools=("kb", "t1", "t2", "t3"),
    )
    lock = threading.Lock()
    log: list[tuple[str, str]] = []
    in_flight, peak = 0, 0

    def record(event: ApplyEvent) -> None:
        nonlocal in_flight, peak
        with lock:
            log.append((event.status, event.address))
            in_flight += {"started": 1, "done": -1}.get(event.status, 0)
            peak = max(peak, in_flight)

    plan, result = converge(spec, provider, store, parallelism=4, on_event=record)
    assert result.ok
    assert peak > 1
    for change in plan.changes:
        started = log.index(("started", change.address))
        for dependency in change.waits_for:
            assert log.index(("done", dependency)) < started


def test_no_more_changes_in_flight_than_the_parallelism_and_ready_ones_start_in_plan_order(
    store: StateStore,
) -> None:
    provider = FakeProvider(latency=0.005)
    spec = make_spec(agents={f"a{i:02d}": {"model": "fast"} for i in range(30)})
    lock = threading.Lock()
    started: list[str] = []
    in_flight, peak = 0, 0

    def record(event: ApplyEvent) -> None:
        nonlocal in_flight, peak
        with lock:
            if event.status == "started":
                started.append(event.address)
            in_flight += {"started": 1, "done": -1}.get(event.status, 0)
            peak = max(peak, in_flight)

    plan, result = converge(spec, provider, store, parallelism=3, on_event=record)
    assert result.ok and len(result.created) == len(plan.changes)
    assert peak == 3  # the bound is reached and never passed
    # the agents all wait for the model only: once it is done they start in plan order
    agents = [c.address for c in plan.changes if c.address.startswith("agent.")]
    assert [a for a in started if a.startswith("agent.")] == agents


def test_a_failure_skips_everything_downstream_in_a_long_chain(store: StateStore) -> None:
    """A chain of 300 changes: the first fails, every other is skipped naming its own
    predecessor, and nothing is started after the failure."""
    values = {f"tool.t{i:03d}": ResourceValue.of(f"tool.t{i:03d}", {"n": i}) for i in range(300)}
    plan = make_plan(values, None, project="demo", environment="dev")
    addresses = [c.address for c in plan.changes]
    chained = dataclasses.replace(
        plan,
        changes=tuple(
            dataclasses.replace(c, waits_for=(addresses[i - 1],) if i else ())
            for i, c in enumerate(plan.changes)
        ),
    )
    provider = FakeProvider()
    provider.fail_next(addresses[0], PermanentProviderError("no"))
    result = apply_plan(chained, provider, store, parallelism=8)
    assert list(result.failed) == [addresses[0]]
    assert result.skipped[addresses[1]] == f"depends on {addresses[0]}, which failed"
    assert result.skipped[addresses[-1]] == f"depends on {addresses[-2]}, which was skipped"
    assert len(result.skipped) == 299 and not provider.objects


def test_a_plan_waiting_for_a_missing_change_skips_it(store: StateStore) -> None:
    plan = make_plan(
        desired_resources(make_spec(agents={})), None, project="demo", environment="dev"
    )
    broken = dataclasses.replace(
        plan, changes=(dataclasses.replace(plan.changes[0], waits_for=("tool.nope",)),)
    )
    result = apply_plan(broken, FakeProvider(), store)
    assert result.skipped == {plan.changes[0].address: "waits for a change not in the plan"}


def test_parallel_changes_share_writes_and_each_is_recorded_before_it_is_done(
    store: StateStore,
) -> None:
    recorded_when_done: list[bool] = []

    def on_event(event: ApplyEvent) -> None:
        if event.status == "done":
            latest = store.read()
            recorded_when_done.append(latest is not None and event.address in latest.resources)

    provider = FakeProvider(replace_fields=REPLACE, latency=0.01)
    spec = make_spec(agents={f"a{i}": {"model": "fast", "tools": ["kb"]} for i in range(20)})
    plan, result = converge(spec, provider, store, parallelism=10, on_event=on_event)
    creates = plan.count(Action.CREATE)
    serials = [h.serial for h in store.history()]
    assert result.ok and serials == list(range(1, len(serials) + 1))
    assert len(serials) <= creates  # group commit: fewer writes than changes under parallelism
    latest = store.read()
    assert latest is not None and set(latest.resources) == {c.address for c in plan.changes}
    assert recorded_when_done and all(recorded_when_done)


def test_snapshots_record_the_spec_revision_and_git_commit(store: StateStore) -> None:
    provider = FakeProvider(replace_fields=REPLACE)
    plan, result = converge(make_spec(), provider, store, git_commit="abc123")
    snapshot = store.read()
    assert snapshot is not None and result.ok
    assert (snapshot.spec_revision, snapshot.git_commit) == (spec_revision(plan), "abc123")
    # the same spec planned again (no changes) has the same revision; an edit changes it
    same = make_plan(desired_resources(make_spec()), snapshot, project="demo", environment="dev")
    edited = make_plan(
        desired_resources(make_spec(models={"fast": "openai"})),
        snapshot,
        project="demo",
        environment="dev",
    )
    assert spec_revision(same) == snapshot.spec_revision != spec_revision(edited)


def test_ctrl_c_lets_changes_in_flight_finish_and_records_them(store: StateStore) -> None:
    import _thread

    provider = FakeProvider(latency=0.2)
    spec = make_spec(agents={f"a{i}": {"model": "fast"} for i in range(6)})
    threading.Timer(0.3, _thread.interrupt_main).start()  # Ctrl-C while the models are created
    plan, result = converge(spec, provider, store, parallelism=2)
    assert result.interrupted and not result.ok
    done = set(result.created)
    snapshot = store.read()
    assert snapshot is not None
    # everything that was created is recorded, nothing else exists, nothing is half-done
    assert set(snapshot.resources) == done
    assert {o.address for o in provider.objects.values()} == done
    assert set(result.skipped) == {c.address for c in plan.changes} - done
    assert all("interrupted" in why for why in result.skipped.values())
    # the lock was released: the next apply finishes the job
    _, again = converge(spec, provider, store)
    assert again.ok and set(again.created) == {c.address for c in plan.changes} - done


def test_a_hung_provider_call_fails_that_change_and_apply_goes_on(store: StateStore) -> None:
    release = threading.Event()

    class Hanging(FakeProvider):
        def create(self, desired: ResourceValue) -> ObservedResource:
            if desired.address == "tool.kb":
                release.wait(30)
            return super().create(desired)

    provider = Hanging()
    try:
        _, result = converge(make_spec(), provider, store, call_timeout=0.3)
    finally:
        release.set()
    assert "did not answer within 0.3s" in result.failed["tool.kb"]
    assert result.skipped["agent.triage"] == "depends on tool.kb, which failed"
    assert "model.fast" in result.created


def _stored(provider: FakeProvider, address: str, data: dict[str, int] | None) -> None:
    (found,) = [o for o in provider.objects.values() if o.address == address]
    if data is None:
        found.values.pop("data", None)
    else:
        found.values["data"] = data


@pytest.mark.parametrize(
    ("after", "data", "environment", "expected"),
    [
        (
            None,  # destroy: the store is still in the spec
            {"entries": 42, "bytes": 12_345},
            "default",
            "the plan would delete memory.facts (long_term) and its data (42 entries, "
            "12.3 kB); nothing was changed. To keep a copy, export it first with 'agentform memory "
            "export facts --output facts.jsonl' ('agentform memory import' reads it back), then "
            "run again with --allow-data-loss to go on and delete it.",
        ),
        (
            None,
            None,
            "staging",
            "the plan would delete memory.facts (long_term) and its data (how much was not "
            "reported); nothing was changed. To keep a copy, export it first with 'agentform "
            "memory export facts --env staging --output facts.jsonl' ('agentform memory import' "
            "reads it back), then run again with --allow-data-loss to go on and delete it.",
        ),
        (
            {},  # apply of a spec without the store
            {"entries": 1, "bytes": 1},
            "default",
            "the plan would delete memory.facts (long_term) and its data (1 entry, 1 byte); "
            "nothing was changed. To keep the data, put memory.facts back in the spec. To keep a "
            "copy, export it first with 'agentform memory export --output memory.jsonl' "
            "('agentform memory import' reads it back), then run again with --allow-data-loss "
            "to go on and delete it.",
        ),
        (
            {"facts": "session"},  # kind cannot change in place
            {"entries": 3, "bytes": 2_500_000},
            "default",
            "the plan would replace memory.facts (long_term; kind cannot change in place), "
            "emptying it of its data (3 entries, 2.5 MB); nothing was changed. To keep the "
            "data, keep kind of memory.facts unchanged. To keep a copy, export it first with "
            "'agentform memory export facts --output facts.jsonl' ('agentform memory import' "
            "reads it back), then run again with --allow-data-loss to go on and delete it.",
        ),
    ],
    ids=["destroy", "destroy-size-unknown-env", "removed-from-spec", "replaced"],
)
def test_refusing_to_lose_memory_says_what_and_how_to_go_on(
    tmp_path: Path,
    after: dict[str, str] | None,
    data: dict[str, int] | None,
    environment: str,
    expected: str,
) -> None:
    provider = FakeProvider(replace_fields=REPLACE)
    with open_store(None, "demo", environment, tmp_path) as store:
        spec = make_spec(memory={"facts": "long_term"})
        plan = make_plan(desired_resources(spec), None, project="demo", environment=environment)
        apply_plan(plan, provider, store, backoff=lambda n: 0.0)
        _stored(provider, "memory.facts", data)
        desired = {} if after is None else desired_resources(make_spec(memory=after))
        doomed = make_plan(desired, store.read(), observe(provider, store), replace_fields=REPLACE)
        with pytest.raises(ProtectedResource) as refused:
            apply_plan(doomed, provider, store)
    assert str(refused.value) == expected
