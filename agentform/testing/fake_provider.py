"""The fake provider: resources kept in memory, with drift and fault injection for tests.

:class:`FakeProvider` implements :class:`agentform.provider.Provider` without touching anything
real, so engine, CLI and conformance tests can plan and apply against it. Tests reach behind the
protocol through its extra verbs: ``out_of_band_change`` / ``out_of_band_delete`` simulate someone
editing the live system (drift), ``fail_next`` makes the next operation on an address raise, and
``calls`` counts operations. Ids are deterministic (``agent-1``, ``agent-2``...), so outputs are
stable.
"""

from __future__ import annotations

import builtins
import copy
import pickle
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agentform.provider import (
    ObservedResource,
    PermanentProviderError,
    ProviderError,
    ProviderPlan,
    ResourceValue,
    diff_values,
)

__all__ = ["FakeProvider"]


@dataclass(slots=True)
class _Object:
    address: str
    kind: str
    values: dict[str, Any]


class FakeProvider:
    """An in-memory provider. ``replace_fields`` maps a kind to the fields that force a replace."""

    def __init__(
        self,
        name: str = "fake",
        *,
        replace_fields: Mapping[str, Iterable[str]] | None = None,
        latency: float = 0.0,
    ) -> None:
        self.name = name
        self.replace_fields = {kind: frozenset(f) for kind, f in (replace_fields or {}).items()}
        self.latency = latency  # seconds slept by every call: lets tests exercise parallelism
        self.calls: Counter[str] = Counter()
        self.objects: dict[str, _Object] = {}
        self._faults: defaultdict[str, deque[ProviderError]] = defaultdict(deque)
        self._next_id: Counter[str] = Counter()

    # -- the protocol -------------------------------------------------------------------------

    def read(self, address: str, id: str) -> ObservedResource | None:
        self._enter("read", address)
        obj = self.objects.get(id)
        return None if obj is None else self._observed(id, obj)

    def list(self, kind: str) -> builtins.list[ObservedResource]:
        self._enter("list", kind)
        # in the order they were made (ids are deterministic, so the listing is too); the
        # values copied in one pickle round trip for the whole kind, not one per object
        mine = [(i, o) for i, o in self.objects.items() if o.kind == kind]
        copies = pickle.loads(pickle.dumps([o.values for _, o in mine], 5))
        return [
            ObservedResource(o.address, i, values)
            for (i, o), values in zip(mine, copies, strict=True)
        ]

    def plan(self, desired: ResourceValue, observed: ObservedResource | None) -> ProviderPlan:
        self._enter("plan", desired.address)
        return diff_values(desired, observed, self.replace_fields.get(desired.kind, ()))

    def create(self, desired: ResourceValue) -> ObservedResource:
        self._enter("create", desired.address)
        for obj in self.objects.values():
            if obj.address == desired.address:
                raise PermanentProviderError(
                    f"{desired.address} already exists in provider {self.name!r};"
                    " import it instead of creating it"
                )
        self._next_id[desired.kind] += 1
        id = f"{desired.kind}-{self._next_id[desired.kind]}"
        obj = _Object(desired.address, desired.kind, copy.deepcopy(dict(desired.values)))
        self.objects[id] = obj
        return self._observed(id, obj)

    def update(self, desired: ResourceValue, observed: ObservedResource) -> ObservedResource:
        self._enter("update", desired.address)
        obj = self.objects.get(observed.id)
        if obj is None:
            raise PermanentProviderError(
                f"{desired.address} (id {observed.id!r}) no longer exists; plan again to create it"
            )
        forced = diff_values(desired, observed, self.replace_fields.get(desired.kind, ())).replace
        if forced:
            raise PermanentProviderError(
                f"{desired.address}: {', '.join(forced)} cannot change in place;"
                " the resource must be replaced"
            )
        obj.values.update(copy.deepcopy(dict(desired.values)))
        return self._observed(observed.id, obj)

    def delete(self, observed: ObservedResource) -> None:
        self._enter("delete", observed.address)
        self.objects.pop(observed.id, None)

    def import_(self, kind: str, id: str) -> ObservedResource:
        obj = self.objects.get(id)
        self._enter("import", obj.address if obj else kind)
        if obj is None or obj.kind != kind:
            raise PermanentProviderError(
                f"provider {self.name!r} has no {kind} with id {id!r}; check the id"
            )
        return self._observed(id, obj)

    # -- test controls ------------------------------------------------------------------------

    def fail_next(self, target: str, error: ProviderError) -> None:
        """Make the next operation on ``target`` (an address, or a kind for ``list``) raise."""
        self._faults[target].append(error)

    def out_of_band_change(self, id: str, values: Mapping[str, Any]) -> None:
        """Someone edited the live object behind agentform's back: merge ``values`` into it."""
        self.objects[id].values.update(copy.deepcopy(dict(values)))

    def out_of_band_delete(self, id: str) -> None:
        """Someone deleted the live object behind agentform's back."""
        del self.objects[id]

    # -- internals ----------------------------------------------------------------------------

    def _enter(self, operation: str, target: str) -> None:
        self.calls[operation] += 1
        if self.latency:
            time.sleep(self.latency)
        if self._faults.get(target):
            raise self._faults[target].popleft()

    @staticmethod
    def _observed(id: str, obj: _Object) -> ObservedResource:
        # copies both ways: callers must not be able to edit the "live" object by accident
        # (a pickle round trip copies plain values several times faster than deepcopy)
        return ObservedResource(obj.address, id, pickle.loads(pickle.dumps(obj.values, 5)))
