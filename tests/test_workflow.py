"""The plan/apply pipeline as a library, without the CLI: FakeProvider and FakeStateStore."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentform.apply import StalePlan
from agentform.plan import Action, PlanError
from agentform.planfile import dumps
from agentform.provider import ProviderLoadError, ResourceValue, TemporaryProviderError
from agentform.state import StateLocked
from agentform.testing import FakeProvider, FakeStateStore
from agentform.workflow import (
    Prepared,
    WorkflowError,
    carry_out,
    import_resource,
    load_saved_plan,
    plan_rollback,
    prepare_plan,
)

ROOT = Path(__file__).resolve().parents[1]
HELLO = ["agent.greeter", "model.greeter-model", "runtime.bus", "runtime.store"]


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    """A copy of examples/hello (outside any git checkout, so no commit is recorded)."""
    return Path(shutil.copytree(ROOT / "examples" / "hello", tmp_path / "hello"))


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def store() -> FakeStateStore:
    return FakeStateStore("hello", "default")


def prepare(path: Path, provider: FakeProvider, store: FakeStateStore, **options: Any) -> Prepared:
    options.setdefault("environ", {})
    return prepare_plan(path, provider=provider, open_state=store.open, **options)


def test_hello_is_planned_applied_and_then_planned_empty(
    hello: Path, provider: FakeProvider, store: FakeStateStore
) -> None:
    prepared = prepare(hello, provider, store)
    assert prepared.recorded is None
    assert [
        (c.address, c.action) for c in sorted(prepared.plan.changes, key=lambda c: c.address)
    ] == [(address, Action.CREATE) for address in HELLO]
    result = carry_out(prepared)
    assert result.ok, result
    assert sorted(result.created) == HELLO
    latest = store.read()
    assert latest is not None and result.serial == latest.serial
    assert sorted(latest.resources) == HELLO
    assert latest.git_commit is None
    assert sorted(o.address for o in provider.objects.values()) == HELLO

    again = prepare(hello, provider, store)
    assert not again.plan.has_changes
    assert (again.plan.lineage, again.plan.serial) == (latest.lineage, latest.serial)
    assert again.recorded == latest


def test_destroy_removes_everything_and_records_it(
    hello: Path, provider: FakeProvider, store: FakeStateStore
) -> None:
    assert carry_out(prepare(hello, provider, store)).ok
    destroyed = carry_out(prepare(hello, provider, store, destroy=True))
    assert destroyed.ok and sorted(destroyed.deleted) == HELLO
    assert provider.objects == {}
    latest = store.read()
    assert latest is not None and latest.resources == {}


def test_a_saved_plan_is_loaded_for_its_own_environment_only(
    hello: Path, provider: FakeProvider, store: FakeStateStore, tmp_path: Path
) -> None:
    prepared = prepare(hello, provider, store)
    saved = tmp_path / "plan.json"
    saved.write_text(dumps(prepared.plan), encoding="utf-8")
    assert load_saved_plan(prepared, saved).changes == prepared.plan.changes
    saved.write_text(dumps(dataclasses.replace(prepared.plan, environment="prod")))
    with pytest.raises(WorkflowError) as caught:
        load_saved_plan(prepared, saved)
    assert str(caught.value) == f"{saved} is a plan for hello (prod), not for hello (default)"


def test_import_records_an_existing_object_once(
    hello: Path, provider: FakeProvider, store: FakeStateStore
) -> None:
    made = provider.create(ResourceValue.of("agent.greeter", {"replicas": 1}))
    prepared = prepare(hello, provider, store, refresh=False, need_provider=True)
    recorded = import_resource(prepared, "agent.greeter", made.id)
    latest = store.read()
    assert latest is not None and latest.resources["agent.greeter"] == recorded
    assert recorded.id == made.id
    with pytest.raises(WorkflowError, match=r"agent\.greeter is already in the state"):
        import_resource(prepared, "agent.greeter", made.id)


def test_an_imported_agent_records_its_values_not_its_status(
    hello: Path, provider: FakeProvider, store: FakeStateStore
) -> None:
    prepared = prepare(hello, provider, store, refresh=False, need_provider=True)
    wanted = next(c.after for c in prepared.plan.changes if c.address == "agent.greeter")
    assert wanted is not None
    # a provider reports how a running agent is doing beside its values
    running = {**wanted, "status": {"running": 1, "workers": [{"pid": 7}]}}
    made = provider.create(ResourceValue.of("agent.greeter", running))
    recorded = import_resource(prepared, "agent.greeter", made.id)
    assert recorded.values == wanted
    plan = prepare(hello, provider, store).plan
    greeter = next(c for c in plan.changes if c.address == "agent.greeter")
    assert greeter.action is Action.NOOP, greeter.reasons


def test_rollback_plans_a_return_to_an_earlier_serial(
    hello: Path, provider: FakeProvider, store: FakeStateStore
) -> None:
    assert carry_out(prepare(hello, provider, store)).ok
    first = store.read()
    assert first is not None
    spec = hello / "agentform.yaml"
    spec.write_text(spec.read_text().replace("warmly", "briefly"))
    assert carry_out(prepare(hello, provider, store)).ok
    prepared = prepare(hello, provider, store)
    plan = plan_rollback(prepared, first.serial)
    assert [c.address for c in plan.changes if c.action is not Action.NOOP] == ["agent.greeter"]
    assert carry_out(prepared, plan).ok
    greeter = next(o for o in provider.objects.values() if o.address == "agent.greeter")
    assert "warmly" in greeter.values["instructions"]


# -- errors: one exception type, the sentence the CLI prints, the cause behind it ------------------

Setup = Callable[[Path, FakeProvider, FakeStateStore], None]


def _nothing(hello: Path, provider: FakeProvider, store: FakeStateStore) -> None:
    pass


def _target(provider_name: str) -> Setup:
    def setup(hello: Path, provider: FakeProvider, store: FakeStateStore) -> None:
        spec = hello / "agentform.yaml"
        spec.write_text(spec.read_text() + f"\ntarget: {{provider: {provider_name}}}\n")

    return setup


def _failing_list(hello: Path, provider: FakeProvider, store: FakeStateStore) -> None:
    provider.fail_next("agent", TemporaryProviderError("connection refused"))


@pytest.mark.parametrize(
    ("setup", "options", "message", "cause"),
    [
        (
            _nothing,
            {"targets": ("agent.nope",)},
            "agent.nope is neither in the spec nor in state",
            PlanError,
        ),
        (
            _target("no-such-provider"),
            {"provider": None},
            "no provider named 'no-such-provider' is installed",
            ProviderLoadError,
        ),
        (
            _failing_list,
            {},
            "provider 'local' could not read what runs: connection refused",
            TemporaryProviderError,
        ),
    ],
    ids=["unknown-target", "unknown-provider", "provider-cannot-read"],
)
def test_preparing_raises_one_error_with_the_sentence_to_print(
    hello: Path,
    provider: FakeProvider,
    store: FakeStateStore,
    setup: Setup,
    options: dict[str, Any],
    message: str,
    cause: type[Exception],
) -> None:
    setup(hello, provider, store)
    with pytest.raises(WorkflowError, match=message) as caught:
        prepare_plan(hello, environ={}, open_state=store.open, **{"provider": provider, **options})
    assert caught.value.diagnostics == ()
    assert isinstance(caught.value.__cause__, cause)


def test_an_unknown_provider_hints_at_no_refresh_unless_one_is_needed(
    hello: Path, store: FakeStateStore
) -> None:
    _target("nope")(hello, FakeProvider(), store)
    with pytest.raises(WorkflowError, match=r"pass --no-refresh$"):
        prepare_plan(hello, environ={}, open_state=store.open)
    with pytest.raises(WorkflowError) as caught:
        prepare_plan(hello, environ={}, open_state=store.open, need_provider=True)
    assert "--no-refresh" not in str(caught.value)


def test_an_invalid_spec_carries_its_errors(hello: Path, store: FakeStateStore) -> None:
    spec = hello / "agentform.yaml"
    spec.write_text(spec.read_text().replace("model: greeter-model", "model: no-such-model"))
    with pytest.raises(WorkflowError) as caught:
        prepare_plan(hello, environ={}, open_state=store.open)
    error = caught.value
    assert str(error) == "the spec is invalid; run 'agentform validate' for details"
    assert error.diagnostics and all(d.is_error for d in error.diagnostics)
    assert "no-such-model" in " ".join(d.summary for d in error.diagnostics)
    assert any(text.endswith("agentform.yaml") for text in error.sources)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"AGENTFORM_PROVIDER_TIMEOUT": "soon"}, "'soon' is not a number of seconds"),
        ({"AGENTFORM_PROVIDER_TIMEOUT": "0"}, "must be a positive number of seconds"),
    ],
    ids=["not-a-number", "not-positive"],
)
def test_a_bad_provider_timeout_stops_apply_before_anything_changes(
    hello: Path,
    provider: FakeProvider,
    store: FakeStateStore,
    environ: dict[str, str],
    message: str,
) -> None:
    prepared = prepare(hello, provider, store, environ=environ)
    with pytest.raises(WorkflowError, match=message):
        carry_out(prepared)
    assert provider.objects == {} and store.read() is None


def test_a_stale_plan_is_refused(
    hello: Path, provider: FakeProvider, store: FakeStateStore
) -> None:
    first = prepare(hello, provider, store)
    assert carry_out(prepare(hello, provider, store)).ok
    with pytest.raises(
        WorkflowError, match=r'serial 0, state is now \d+; run "agentform plan" again'
    ) as caught:
        carry_out(first)
    assert isinstance(caught.value.__cause__, StalePlan)


def test_a_locked_state_is_refused(
    hello: Path, provider: FakeProvider, store: FakeStateStore
) -> None:
    prepared = prepare(hello, provider, store)
    with store.lock("apply"), pytest.raises(WorkflowError, match="state is locked by") as caught:
        carry_out(prepared)
    assert isinstance(caught.value.__cause__, StateLocked)
    assert provider.objects == {}


def test_a_step_that_needs_a_provider_says_so(hello: Path, store: FakeStateStore) -> None:
    prepared = prepare_plan(hello, refresh=False, environ={}, open_state=store.open)
    assert prepared.provider is None
    with pytest.raises(ValueError, match="need_provider=True"):
        carry_out(prepared)


def test_the_environment_is_not_shown_in_a_prepared_plan(
    hello: Path, provider: FakeProvider, store: FakeStateStore
) -> None:
    prepared = prepare(hello, provider, store, environ={"OPENAI_API_KEY": "sk-secret"})
    assert "sk-secret" not in repr(prepared)
