"""The provider conformance suite: the life cycle every provider must get right.

:func:`run_conformance` drives one resource through create → empty plan → update → empty plan →
out-of-band change detected as drift → import by id → delete leaves nothing, and raises
``AssertionError`` naming the step that failed. Called from the tests of every provider: the
fake one here, the built-ins, and third-party providers in their own test suites.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NoReturn, TypeVar

from agentform.provider import ObservedResource, Provider, ResourceValue

__all__ = ["run_conformance"]

T = TypeVar("T")


def run_conformance(
    make_provider: Callable[[], Provider],
    resource: ResourceValue,
    updated: ResourceValue,
    drift: Callable[[Provider, ObservedResource], None],
) -> None:
    """Run the suite against a fresh provider from ``make_provider``.

    ``updated`` is ``resource`` with fields changed that can change in place; ``drift`` edits the
    live object behind the provider's back (it must change a field ``updated`` sets, not delete
    the object).
    """
    _check(resource.address == updated.address, "setup", "resource and updated differ in address")
    provider = make_provider()
    _check(isinstance(provider, Provider), "setup", f"{provider!r} does not implement Provider")
    address, kind = resource.address, resource.kind

    created = _call("create", lambda: provider.create(resource))
    _check(created.address == address, "create", f"returned address {created.address!r}")
    _check(bool(created.id), "create", "returned an empty id")
    observed = _read("create", provider, address, created.id)
    _check_values("create", resource.values, observed.values)
    _check_empty_plan("plan after create", provider, resource, observed)
    listed = _call("list after create", lambda: provider.list(kind))
    _check(
        any(o.id == created.id for o in listed),
        "list after create",
        f"list({kind!r}) does not include id {created.id!r}",
    )

    before = _call("plan the update", lambda: provider.plan(updated, observed))
    _check(not before.is_empty, "plan the update", "plan(updated, observed) is empty")
    _check(
        not before.requires_replace,
        "plan the update",
        f"updated changes fields that force a replace ({', '.join(before.replace)});"
        " give the suite an update that can happen in place",
    )
    _call("update", lambda: provider.update(updated, observed))
    observed = _read("update", provider, address, created.id)
    _check_values("update", updated.values, observed.values)
    _check_empty_plan("plan after update", provider, updated, observed)

    _call("drift", lambda: drift(provider, observed))
    drifted = _read("drift", provider, address, created.id)
    plan = _call("drift", lambda: provider.plan(updated, drifted))
    _check(
        not plan.is_empty,
        "drift",
        "an out-of-band change was not detected: plan(updated, read(...)) is empty",
    )

    imported = _call("import", lambda: provider.import_(kind, created.id))
    _check(imported.id == created.id, "import", f"returned id {imported.id!r}")
    _check(
        dict(imported.values) == dict(drifted.values),
        "import",
        f"import_ returned {dict(imported.values)!r} but read returns {dict(drifted.values)!r}",
    )

    _call("delete", lambda: provider.delete(drifted))
    left = _call("delete", lambda: provider.read(address, created.id))
    _check(left is None, "delete", f"read still returns {left!r}")
    remaining = _call("delete", lambda: provider.list(kind))
    _check(
        not any(o.id == created.id or o.address == address for o in remaining),
        "delete",
        f"list({kind!r}) still includes {address} after delete",
    )


def _fail(step: str, message: str) -> NoReturn:
    raise AssertionError(f"provider conformance step {step!r} failed: {message}")


def _check(condition: bool, step: str, message: str) -> None:
    # not ``assert``: the suite must fail under ``python -O`` too
    if not condition:
        _fail(step, message)


def _call(step: str, operation: Callable[[], T]) -> T:
    try:
        return operation()
    except AssertionError:
        raise
    except Exception as exc:
        _fail(step, f"{type(exc).__name__}: {exc}")


def _read(step: str, provider: Provider, address: str, id: str) -> ObservedResource:
    found = _call(step, lambda: provider.read(address, id))
    if found is None:
        _fail(step, f"read({address!r}, {id!r}) returns None")
    return found


def _check_values(step: str, want: Mapping[str, Any], got: Mapping[str, Any]) -> None:
    wrong = sorted(k for k in want if k not in got or got[k] != want[k])
    if wrong:
        detail = ", ".join(f"{k} is {got.get(k)!r}, want {want[k]!r}" for k in wrong)
        _fail(step, f"read does not show the desired values: {detail}")


def _check_empty_plan(
    step: str, provider: Provider, desired: ResourceValue, observed: ObservedResource
) -> None:
    plan = _call(step, lambda: provider.plan(desired, observed))
    if not plan.is_empty:
        _fail(step, f"plan is not empty: {'; '.join(plan.reasons) or plan}")
