"""The provider protocol, its value types and errors, the fake provider, and load_provider."""

from __future__ import annotations

import pickle
from importlib.metadata import EntryPoint
from typing import Any

import pytest

import agentform.provider as provider_module
from agentform.provider import (
    ENTRY_POINT_GROUP,
    ObservedResource,
    PermanentProviderError,
    Provider,
    ProviderContext,
    ProviderError,
    ProviderLoadError,
    ProviderPlan,
    ResourceValue,
    TemporaryProviderError,
    diff_values,
    load_provider,
    provider_names,
)
from agentform.testing import FakeProvider

AGENT = ResourceValue.of("agent.triage", {"model": "fast", "replicas": 1, "tools": ["kb"]})


def test_public_api() -> None:
    assert sorted(provider_module.__all__) == [
        "ENTRY_POINT_GROUP",
        "ObservedResource",
        "PermanentProviderError",
        "Provider",
        "ProviderContext",
        "ProviderError",
        "ProviderLoadError",
        "ProviderPlan",
        "ProviderTimeout",
        "ResourceValue",
        "TemporaryProviderError",
        "available_providers",
        "bounded_call",
        "diff_values",
        "load_provider",
        "provider_names",
    ]


def test_fake_provider_implements_the_protocol() -> None:
    assert isinstance(FakeProvider(), Provider)


def test_local_provider_implements_the_protocol() -> None:
    assert isinstance(provider_module.available_providers()["local"].load()(), Provider)


@pytest.mark.parametrize("name", ["docker", "kubernetes"])
def test_builtin_stubs_do_not_claim_the_protocol(name: str) -> None:
    stub = provider_module.available_providers()[name].load()()
    assert not isinstance(stub, Provider)


def test_resource_value_of_splits_the_address() -> None:
    assert (AGENT.kind, AGENT.name) == ("agent", "triage")
    with pytest.raises(ValueError, match=r"expected KIND\.NAME"):
        ResourceValue.of("triage")


PLAN_CASES: list[tuple[str, dict[str, Any] | None, tuple[str, ...], ProviderPlan]] = [
    (
        "missing",
        None,
        (),
        ProviderPlan(
            changed=("model", "replicas", "tools"),
            reasons=("agent.triage does not exist",),
            missing=True,
        ),
    ),
    ("equal", {"model": "fast", "replicas": 1, "tools": ["kb"]}, ("model",), ProviderPlan()),
    (
        "extra-observed-fields-ignored",
        {"model": "fast", "replicas": 1, "tools": ["kb"], "status": "running"},
        (),
        ProviderPlan(),
    ),
    (
        "in-place",
        {"model": "fast", "replicas": 3, "tools": ["kb"]},
        ("model",),
        ProviderPlan(changed=("replicas",), reasons=("replicas is 3, want 1",)),
    ),
    (
        "replace",
        {"model": "slow", "replicas": 1, "tools": ["kb"]},
        ("model",),
        ProviderPlan(
            changed=("model",),
            replace=("model",),
            reasons=("model is 'slow', want 'fast'", "model cannot change in place"),
        ),
    ),
    (
        "field-removed-out-of-band",
        {"model": "fast", "replicas": 1},
        (),
        ProviderPlan(changed=("tools",), reasons=("tools is not set, want ['kb']",)),
    ),
]


@pytest.mark.parametrize(
    ("observed", "replace_fields", "expected"),
    [case[1:] for case in PLAN_CASES],
    ids=[case[0] for case in PLAN_CASES],
)
def test_plan(
    observed: dict[str, Any] | None, replace_fields: tuple[str, ...], expected: ProviderPlan
) -> None:
    seen = None if observed is None else ObservedResource("agent.triage", "agent-1", observed)
    assert diff_values(AGENT, seen, replace_fields) == expected
    fake = FakeProvider(replace_fields={"agent": replace_fields})
    assert fake.plan(AGENT, seen) == expected
    assert fake.plan(AGENT, seen).is_empty == (expected == ProviderPlan())


def test_fake_provider_life_cycle() -> None:
    fake = FakeProvider()
    created = fake.create(AGENT)
    assert created == ObservedResource("agent.triage", "agent-1", dict(AGENT.values))
    assert fake.create(ResourceValue.of("agent.other")).id == "agent-2"
    assert fake.read("agent.triage", "agent-1") == created
    assert [o.id for o in fake.list("agent")] == ["agent-1", "agent-2"]
    assert fake.list("tool") == []
    fake.out_of_band_change("agent-1", {"replicas": 5})
    assert fake.plan(AGENT, fake.read("agent.triage", "agent-1")).changed == ("replicas",)
    fake.out_of_band_delete("agent-1")
    assert fake.read("agent.triage", "agent-1") is None
    assert fake.calls["read"] == 3
    assert fake.calls["create"] == 2


def test_fake_provider_returns_copies() -> None:
    fake = FakeProvider()
    created = fake.create(AGENT)
    created.values["tools"].append("mutated")
    assert fake.read(AGENT.address, created.id) == ObservedResource(
        AGENT.address, created.id, dict(AGENT.values)
    )


def test_fake_update_refuses_replace_fields() -> None:
    fake = FakeProvider(replace_fields={"agent": ["model"]})
    observed = fake.create(AGENT)
    changed = ResourceValue.of(AGENT.address, {**AGENT.values, "model": "slow"})
    with pytest.raises(PermanentProviderError, match="model cannot change in place"):
        fake.update(changed, observed)


@pytest.mark.parametrize(
    ("operation", "message"),
    [
        ("create-twice", "already exists"),
        ("update-gone", "no longer exists"),
        ("import-unknown", "has no agent with id 'agent-9'"),
    ],
    ids=["create-twice", "update-gone", "import-unknown"],
)
def test_fake_permanent_errors(operation: str, message: str) -> None:
    fake = FakeProvider()
    observed = fake.create(AGENT)
    with pytest.raises(PermanentProviderError, match=message):
        if operation == "create-twice":
            fake.create(AGENT)
        elif operation == "update-gone":
            fake.out_of_band_delete(observed.id)
            fake.update(AGENT, observed)
        else:
            fake.import_("agent", "agent-9")


def test_fail_next_raises_once_for_that_address() -> None:
    fake = FakeProvider()
    fake.fail_next("agent.triage", TemporaryProviderError("rate limited", delay=2.5))
    with pytest.raises(TemporaryProviderError) as caught:
        fake.create(AGENT)
    assert caught.value.delay == 2.5
    fake.create(ResourceValue.of("agent.other"))  # other addresses are unaffected
    assert fake.create(AGENT).address == "agent.triage"  # the fault was consumed
    fake.fail_next("agent", PermanentProviderError("forbidden"))
    with pytest.raises(PermanentProviderError, match="forbidden"):
        fake.list("agent")


def test_error_tree() -> None:
    assert issubclass(TemporaryProviderError, ProviderError)
    assert issubclass(PermanentProviderError, ProviderError)
    assert not issubclass(ProviderLoadError, ProviderError)
    error = TemporaryProviderError("engine busy", delay=3.0)
    copied = pickle.loads(pickle.dumps(error))
    assert (str(copied), copied.delay) == ("engine busy", 3.0)


def test_load_provider_real_entry_point_stub() -> None:
    # ``docker`` is registered but still an identity-only stub: loading it finds and builds it,
    # then refuses it with its own sentence (not "upgrade the package": no package has more)
    assert "docker" in provider_names()
    with pytest.raises(ProviderLoadError) as caught:
        load_provider("docker")
    message = str(caught.value)
    assert message.startswith("provider 'docker': the docker provider is not implemented")
    assert "use target.provider: local" in message
    assert "upgrade" not in message


def test_a_third_party_provider_without_the_protocol_is_told_to_upgrade(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Partial:
        name = "partial"

    registered = dict(provider_module.available_providers())
    registered["partial"] = EntryPoint("partial", "x:Partial", "agentform.providers")
    monkeypatch.setattr(provider_module, "available_providers", lambda: registered)
    monkeypatch.setattr(EntryPoint, "load", lambda self: Partial)
    with pytest.raises(ProviderLoadError, match="does not implement the provider protocol"):
        load_provider("partial")


@pytest.fixture
def fake_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    registered = dict(provider_module.available_providers())
    registered["fake"] = EntryPoint(
        "fake", "agentform.testing.fake_provider:FakeProvider", ENTRY_POINT_GROUP
    )
    monkeypatch.setattr(provider_module, "available_providers", lambda: registered)


@pytest.mark.usefixtures("fake_entry_point")
def test_load_provider_builds_with_config() -> None:
    loaded = load_provider("fake", {"name": "fake", "replace_fields": {"agent": ["model"]}})
    assert isinstance(loaded, FakeProvider)
    assert loaded.replace_fields == {"agent": frozenset({"model"})}


@pytest.mark.usefixtures("fake_entry_point")
def test_load_provider_refused_config() -> None:
    with pytest.raises(ProviderLoadError, match=r"refused its configuration: .*'colour'"):
        load_provider("fake", {"colour": "blue"})


@pytest.mark.parametrize(
    ("name", "hint"),
    [("locl", "did you mean 'local'?"), ("dokcer", "did you mean 'docker'?")],
    ids=["locl", "dokcer"],
)
def test_load_provider_unknown_name_suggests(name: str, hint: str) -> None:
    with pytest.raises(ProviderLoadError) as caught:
        load_provider(name)
    assert str(caught.value) == (
        f"no provider named {name!r} is installed; {hint}; install the package that registers"
        " it in the 'agentform.providers' entry-point group"
    )


def test_load_provider_passes_the_context_to_factories_that_take_it() -> None:
    context = ProviderContext("demo", "prod", "/srv/demo")
    local = load_provider("local", {}, context)
    assert local.context == context  # type: ignore[attr-defined]
