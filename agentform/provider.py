"""Providers: plugins that make resources real (``local``, ``docker``, ``kubernetes``, others).

This module owns the boundary between core and providers: the plain values that cross it
(:class:`ResourceValue`, :class:`ObservedResource`, :class:`ProviderPlan`), the synchronous
:class:`Provider` protocol (``read``, bulk ``list``, ``plan``, ``create``, ``update``, ``delete``,
``import_``), the errors a provider raises, and discovery through the ``agentform.providers``
entry-point group. Core reaches providers only through that group, the built-in ones included, so
a third-party provider is a peer of the built-ins. Called by the CLI (``validate`` asks which
provider names exist) and by the plan/apply workflow (:mod:`agentform.workflow`: ``load_provider``
and the protocol).

Providers receive plain values, never spec models, so a spec refactor cannot break them.

Errors raised by a provider operation::

    Exception
     ├── ProviderError                  a provider operation failed
     │    ├── TemporaryProviderError    try again after ``.delay`` seconds (apply retries
     │    │                             with backoff: rate limits, conflicts, not ready yet)
     │    └── PermanentProviderError    retrying will not help: the resource fails and its
     │                                  dependants are skipped
     └── ProviderLoadError              ``load_provider`` could not produce a provider
                                        (unknown name, bad config, not a Provider)

Any other exception escaping a provider is treated like a permanent error.
"""

from __future__ import annotations

import builtins
import inspect
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol, TypeVar, runtime_checkable

from agentform.addresses import Address
from agentform.names import did_you_mean

__all__ = [
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

ENTRY_POINT_GROUP = "agentform.providers"

_T = TypeVar("_T")

# the methods a provider must have; ``name`` is checked separately (it is an attribute)
PROTOCOL_METHODS = ("read", "list", "plan", "create", "update", "delete", "import_")


@dataclass(frozen=True, slots=True)
class ResourceValue:
    """The desired values of one resource, as a provider sees them: JSON-like, no spec models."""

    address: str  # "kind.name", e.g. "agent.triage"
    kind: str
    name: str
    values: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, address: str, values: Mapping[str, Any] | None = None) -> ResourceValue:
        """``ResourceValue.of("agent.triage", {...})``: kind and name taken from the address."""
        parsed = Address.parse(address)  # ValueError naming the expected form
        return cls(address, parsed.kind, parsed.name, dict(values or {}))


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """Where a provider works: the project, the environment, and the spec's directory.

    Passed as the keyword ``context`` to provider factories that accept it (a provider running
    things on this machine needs a directory for them; a cloud provider may ignore it). Relative
    paths in resource values (scripts, MCP server commands) are relative to ``base_dir``.

    ``sensitive`` are the values of the spec's sensitive variables, by name. Resource values
    hold ``${var.NAME}`` references and, in their ``sensitive`` field, fingerprints; a provider
    hands the runtime the values of the names a resource lists there, beside the resource, and
    never stores, prints or logs them (:mod:`agentform.contract.sensitive`).
    """

    project: str
    environment: str = "default"
    base_dir: str = "."
    sensitive: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class ObservedResource:
    """What a provider reads live for one resource: its address, its provider id, its values."""

    address: str
    id: str
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProviderPlan:
    """How observed differs from desired for one resource, as the provider judges it.

    ``changed`` names the fields that differ, ``replace`` the subset that cannot change in place
    (so the resource must be replaced), ``reasons`` one sentence per difference. ``missing`` means
    the resource does not exist and must be created.
    """

    changed: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    missing: bool = False

    @property
    def is_empty(self) -> bool:
        """Nothing to do: the resource exists and matches what is desired."""
        return not self.missing and not self.changed

    @property
    def requires_replace(self) -> bool:
        return bool(self.replace)


def diff_values(
    desired: ResourceValue,
    observed: ObservedResource | None,
    replace_fields: Iterable[str] = (),
) -> ProviderPlan:
    """The plain comparison most providers need: every desired field against the observed one.

    Fields the provider reports but the spec does not set (ids, status, timestamps) are not
    compared. ``replace_fields`` are the fields that cannot change in place.
    """
    if observed is None:
        return ProviderPlan(
            changed=tuple(sorted(desired.values)),
            reasons=(f"{desired.address} does not exist",),
            missing=True,
        )
    forced = frozenset(replace_fields)
    changed: list[str] = []
    reasons: list[str] = []
    for key in sorted(desired.values):
        want = desired.values[key]
        if key not in observed.values:
            changed.append(key)
            reasons.append(f"{key} is not set, want {want!r}")
        elif observed.values[key] != want:
            changed.append(key)
            reasons.append(f"{key} is {observed.values[key]!r}, want {want!r}")
    replace = tuple(key for key in changed if key in forced)
    reasons += [f"{key} cannot change in place" for key in replace]
    return ProviderPlan(changed=tuple(changed), replace=replace, reasons=tuple(reasons))


class ProviderError(Exception):
    """A provider operation failed; see the subclasses for whether retrying helps."""


class TemporaryProviderError(ProviderError):
    """Retrying may succeed: apply tries the operation again after ``delay`` seconds."""

    def __init__(self, message: str, delay: float = 1.0) -> None:
        super().__init__(message)
        self.delay = delay

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.delay))


class PermanentProviderError(ProviderError):
    """Retrying will not help: the resource fails and its dependants are skipped."""


class ProviderTimeout(ProviderError):
    """A provider call did not return in time; the change it made may be half done."""


def bounded_call(operation: Callable[[], _T], timeout: float | None, what: str) -> _T:
    """Run ``operation``, giving up after ``timeout`` seconds with :class:`ProviderTimeout`.

    A hung provider must not hang apply or plan (holding the state lock) forever; the abandoned
    call keeps its daemon thread until it returns, if ever.
    """
    if timeout is None:
        return operation()
    box: list[tuple[bool, Any]] = []

    def call() -> None:
        try:
            box.append((True, operation()))
        except BaseException as exc:
            box.append((False, exc))

    worker = threading.Thread(target=call, name=f"provider call: {what}", daemon=True)
    worker.start()
    worker.join(timeout)
    if not box:
        raise ProviderTimeout(
            f"the provider did not answer within {timeout:g}s ({what}); the change may be half"
            " done: run 'agentform plan' to see what exists, then apply again"
        )
    ok, value = box[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


class ProviderLoadError(Exception):
    """``load_provider`` could not produce a provider: unknown name, bad config or wrong type."""


@runtime_checkable
class Provider(Protocol):
    """What every provider implements. Synchronous; values in, plain values out.

    Implementations raise :class:`TemporaryProviderError` or :class:`PermanentProviderError`.
    ``read`` and ``list`` report what exists; nothing but ``create``, ``update`` and ``delete``
    may change anything.
    """

    name: str

    def read(self, address: str, id: str) -> ObservedResource | None:
        """The resource with provider id ``id`` as it is now, or None when it does not exist."""
        ...

    def list(self, kind: str) -> builtins.list[ObservedResource]:
        """Every resource of ``kind`` this provider manages (bulk refresh, one round trip)."""
        ...

    def plan(self, desired: ResourceValue, observed: ObservedResource | None) -> ProviderPlan:
        """Which fields differ and which of them force a replace. Never changes anything."""
        ...

    def create(self, desired: ResourceValue) -> ObservedResource:
        """Make the resource exist as desired; the returned id is how it is found again."""
        ...

    def update(self, desired: ResourceValue, observed: ObservedResource) -> ObservedResource:
        """Change ``observed`` in place to match ``desired`` (never called for replace fields)."""
        ...

    def delete(self, observed: ObservedResource) -> None:
        """Remove the resource; deleting one that is already gone is not an error."""
        ...

    def import_(self, kind: str, id: str) -> ObservedResource:
        """Adopt an existing object by provider id (``import`` is a Python keyword)."""
        ...


def available_providers() -> dict[str, EntryPoint]:
    """Installed providers by name (not imported: loading one may pull heavy clients)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def provider_names() -> frozenset[str]:
    return frozenset(available_providers())


def load_provider(
    name: str, config: Mapping[str, Any] | None = None, context: ProviderContext | None = None
) -> Provider:
    """Import the provider registered as ``name`` and build it with ``config`` as keywords.

    The entry point names a callable (usually the provider class) taking the provider's
    configuration as keyword arguments. Raises :class:`ProviderLoadError` with a sentence saying
    what to do when the name is unknown, the config is refused or the object is not a Provider.
    """
    found = available_providers()
    if name not in found:
        hint = did_you_mean(name, found, "provider")
        raise ProviderLoadError(
            f"no provider named {name!r} is installed"
            + (f"; {hint}" if hint else "")
            + f"; install the package that registers it in the {ENTRY_POINT_GROUP!r}"
            " entry-point group"
        )
    entry = found[name]
    try:
        factory = entry.load()
    except ImportError as exc:
        raise ProviderLoadError(
            f"provider {name!r} ({entry.value}) could not be imported: {exc}; reinstall its package"
        ) from exc
    kwargs = dict(config or {})
    if context is not None and _accepts_context(factory):
        kwargs["context"] = context
    try:
        provider = factory(**kwargs)
    except TypeError as exc:
        raise ProviderLoadError(
            f"provider {name!r} ({entry.value}) refused its configuration: {exc};"
            " check the provider's settings"
        ) from exc
    missing = [m for m in PROTOCOL_METHODS if not callable(getattr(provider, m, None))]
    if not isinstance(getattr(provider, "name", None), str):
        missing.insert(0, "name")
    if missing or not isinstance(provider, Provider):
        unavailable = getattr(provider, "unavailable", None)
        if isinstance(unavailable, str):  # a placeholder that says so itself
            raise ProviderLoadError(f"provider {name!r}: {unavailable}")
        raise ProviderLoadError(
            f"provider {name!r} ({entry.value}) does not implement the provider protocol"
            f" (missing: {', '.join(missing)}); upgrade the package that provides it"
        )
    return provider


def _accepts_context(factory: Any) -> bool:
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return "context" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )
