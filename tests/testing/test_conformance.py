"""The conformance suite passes for the fake provider and fails, precisely, for broken ones."""

from __future__ import annotations

import builtins
import re

import pytest

from agentform.provider import ObservedResource, Provider, ResourceValue
from agentform.testing import FakeProvider, run_conformance

RESOURCE = ResourceValue.of("agent.triage", {"model": "fast", "replicas": 1})
UPDATED = ResourceValue.of("agent.triage", {"model": "fast", "replicas": 3})


def drift(provider: Provider, observed: ObservedResource) -> None:
    assert isinstance(provider, FakeProvider)
    provider.out_of_band_change(observed.id, {"replicas": 7})


class UpdateDoesNothing(FakeProvider):
    def update(self, desired: ResourceValue, observed: ObservedResource) -> ObservedResource:
        return observed


class CachedReads(FakeProvider):
    """Reads what it last wrote instead of the live object, so it never sees drift."""

    def __init__(self) -> None:
        super().__init__()
        self.cache: dict[str, ObservedResource] = {}

    def create(self, desired: ResourceValue) -> ObservedResource:
        self.cache[desired.address] = super().create(desired)
        return self.cache[desired.address]

    def update(self, desired: ResourceValue, observed: ObservedResource) -> ObservedResource:
        self.cache[desired.address] = super().update(desired, observed)
        return self.cache[desired.address]

    def read(self, address: str, id: str) -> ObservedResource | None:
        return self.cache.get(address) if super().read(address, id) else None


class DeleteDoesNothing(FakeProvider):
    def delete(self, observed: ObservedResource) -> None:
        pass


class ImportLoses(FakeProvider):
    def import_(self, kind: str, id: str) -> ObservedResource:
        return ObservedResource(super().import_(kind, id).address, id, {})


class ListForgets(FakeProvider):
    def list(self, kind: str) -> builtins.list[ObservedResource]:
        return []


class ReplacesReplicas(FakeProvider):
    def __init__(self) -> None:
        super().__init__(replace_fields={"agent": ["replicas"]})


def test_fake_provider_passes() -> None:
    run_conformance(FakeProvider, RESOURCE, UPDATED, drift)


def test_fake_provider_passes_with_latency() -> None:
    run_conformance(lambda: FakeProvider(latency=0.001), RESOURCE, UPDATED, drift)


BROKEN = [
    (
        UpdateDoesNothing,
        "provider conformance step 'update' failed: read does not show the desired values:"
        " replicas is 1, want 3",
    ),
    (
        CachedReads,
        "provider conformance step 'drift' failed: an out-of-band change was not detected:"
        " plan(updated, read(...)) is empty",
    ),
    (
        DeleteDoesNothing,
        "provider conformance step 'delete' failed: read still returns ObservedResource(",
    ),
    (
        ImportLoses,
        "provider conformance step 'import' failed: import_ returned {} but read returns"
        " {'model': 'fast', 'replicas': 7}",
    ),
    (
        ListForgets,
        "provider conformance step 'list after create' failed:"
        " list('agent') does not include id 'agent-1'",
    ),
    (
        ReplacesReplicas,
        "provider conformance step 'plan the update' failed: updated changes fields that force"
        " a replace (replicas)",
    ),
]


@pytest.mark.parametrize(("broken", "message"), BROKEN, ids=[cls.__name__ for cls, _ in BROKEN])
def test_broken_provider_fails_at_the_right_step(broken: type[FakeProvider], message: str) -> None:
    with pytest.raises(AssertionError, match="^" + re.escape(message)):
        run_conformance(broken, RESOURCE, UPDATED, drift)


def test_provider_exception_is_reported_with_its_step() -> None:
    def make() -> FakeProvider:
        fake = FakeProvider()
        fake.fail_next("agent.triage", PermissionError("engine socket not readable"))  # type: ignore[arg-type]
        return fake

    with pytest.raises(
        AssertionError,
        match=re.escape(
            "provider conformance step 'create' failed: PermissionError: engine socket not readable"
        ),
    ):
        run_conformance(make, RESOURCE, UPDATED, drift)


def test_drift_that_deletes_is_reported() -> None:
    def delete(provider: Provider, observed: ObservedResource) -> None:
        assert isinstance(provider, FakeProvider)
        provider.out_of_band_delete(observed.id)

    with pytest.raises(AssertionError, match=r"step 'drift' failed: read\('agent.triage'"):
        run_conformance(FakeProvider, RESOURCE, UPDATED, delete)
