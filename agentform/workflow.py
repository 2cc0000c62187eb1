"""The plan/apply pipeline as a library: what ``agentform plan``, ``apply``, ``destroy``,
``import`` and ``rollback`` do between parsing their options and printing.

This module owns :func:`prepare_plan` (spec → desired resources → secret, sensitive variable
and file fingerprints → remote agent cards → recorded state → provider → observed → plan) and
:class:`Prepared`, what it returns; the steps that follow it: :func:`load_saved_plan`,
:func:`carry_out` (apply a plan under the state lock), :func:`import_resource` and
:func:`plan_rollback`; and :class:`WorkflowError`, the one error they raise for anything the
user has to fix. Its message is the sentence the CLI prints; for an invalid spec it also carries
the spec's errors; the error that caused it (a :class:`~agentform.state.StateError`, an
:class:`~agentform.apply.ApplyError`, a :class:`~agentform.provider.ProviderError` ...) is its
``__cause__``. A resource that fails during apply is no error here: :func:`carry_out` returns it
in the :class:`~agentform.apply.ApplyResult`.

It prints nothing and never exits. The state store and the provider can be handed in
(``open_state``, ``provider``): the CLI uses the SQL store and the spec's target provider, tests
use :class:`~agentform.testing.FakeStateStore` and :class:`~agentform.testing.FakeProvider`.
Called by :mod:`agentform.cli.plan`, :mod:`agentform.cli.apply`, tests and the dashboard.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from agentform.addresses import Address
from agentform.apply import ApplyError, ApplyEvent, ApplyResult, apply_plan
from agentform.diagnostics import Diagnostic
from agentform.diff import own_values
from agentform.plan import Plan, PlanError, make_plan, observe
from agentform.planfile import PlanFileError, loads
from agentform.provenance import apply_user, git_commit
from agentform.provider import (
    ObservedResource,
    Provider,
    ProviderContext,
    ProviderError,
    ProviderLoadError,
    ResourceValue,
    load_provider,
)
from agentform.referenced_files import changed_since as files_changed_since
from agentform.referenced_files import with_file_fingerprints
from agentform.remote_cards import CardError, with_cards
from agentform.resources import desired_resources
from agentform.secrets import with_fingerprints
from agentform.sensitive import changed_since
from agentform.sensitive import with_fingerprints as with_sensitive_fingerprints
from agentform.spec import Spec, load_spec
from agentform.state import (
    RecordedResource,
    StateError,
    StateSnapshot,
    StateStore,
    empty,
    open_store,
)

__all__ = [
    "Prepared",
    "StateOpener",
    "WorkflowError",
    "carry_out",
    "import_resource",
    "load_saved_plan",
    "plan_rollback",
    "prepare_plan",
]

DEFAULT_ENVIRONMENT = "default"


class WorkflowError(Exception):
    """A step of the pipeline could not be done; the message says what to do.

    ``diagnostics`` are the spec's errors when the spec is invalid (empty otherwise), and
    ``sources`` the texts of the spec's files they point into, for rendering them.
    """

    def __init__(
        self,
        message: str,
        *,
        diagnostics: Sequence[Diagnostic] = (),
        sources: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.diagnostics = tuple(diagnostics)
        self.sources: Mapping[str, str] = dict(sources or {})


class StateOpener(Protocol):
    """Opens the state store of one project and environment, as :func:`open_store` does."""

    def __call__(
        self, url: str | None, project: str, environment: str, base_dir: str | Path
    ) -> StateStore: ...


@dataclass(frozen=True)
class Prepared:
    """A plan and what made it.

    ``recorded`` is the state the plan was made against (``None``: no state yet); ``provider``
    is ``None`` when the plan was made without one (no refresh, and none needed).
    :meth:`open_store` opens the same state store again for the steps that follow.
    """

    spec: Spec
    plan: Plan
    recorded: StateSnapshot | None
    provider: Provider | None
    base_dir: str
    state_url: str | None
    environment: str
    environ: Mapping[str, str] = field(repr=False)  # it holds the secrets' values
    open_state: StateOpener = field(repr=False)
    # the sensitive variables' values, by name: for the provider and the saved-plan check only
    sensitive: Mapping[str, str] = field(default_factory=dict, repr=False)

    def open_store(self) -> StateStore:
        """The state store of this spec's project and environment (close it, or use ``with``)."""
        return self.open_state(self.state_url, self.spec.project, self.environment, self.base_dir)


def prepare_plan(
    path: str | os.PathLike[str],
    *,
    env: str | None = None,
    variables: Mapping[str, str] | None = None,
    state_url: str | None = None,
    refresh: bool = True,
    targets: Collection[str] = (),
    replace: Collection[str] = (),
    refresh_only: bool = False,
    destroy: bool = False,
    need_provider: bool = False,
    warm_up: bool = False,
    environ: Mapping[str, str] | None = None,
    provider: Provider | None = None,
    open_state: StateOpener = open_store,
) -> Prepared:
    """Load the spec at ``path``, read its recorded state, observe through the provider (when
    ``refresh``), and make the plan; raise :class:`WorkflowError` saying what is wrong.

    ``destroy`` plans the deletion of everything recorded; ``need_provider`` loads the provider
    even without refresh (apply, import); ``warm_up`` tells it (``warm_up()``, optional in the
    protocol) that the plan will be carried out, so it may get ready while planning (the local
    provider starts its engine). ``provider``, when given, is used instead of the spec's
    target provider whenever one is used. ``environ`` (default ``os.environ``) supplies
    ``${env.X}``, ``${secret.X}`` and the secrets whose fingerprints are compared; ``open_state``
    opens the state store (default: :func:`agentform.state.open_store` at ``state_url``).
    """
    environ = os.environ if environ is None else environ
    result = load_spec(path, env=env, variables=dict(variables or {}), environ=environ)
    if result.spec is None:
        raise WorkflowError(
            "the spec is invalid; run 'agentform validate' for details",
            diagnostics=[d for d in result.diagnostics if d.is_error],
            sources=result.smap.texts,
        )
    spec = result.spec
    environment = env or DEFAULT_ENVIRONMENT
    desired = {} if destroy else desired_resources(spec)
    # a rotated secret is a change too: fingerprints of the values, never the values
    desired = with_fingerprints(desired, environ, spec.project)
    # and so is a new value of a sensitive variable
    desired = with_sensitive_fingerprints(desired, result.sensitive, spec.project)
    # and an edited file the spec points at (a scripted model's rules, an MCP server's code)
    desired = with_file_fingerprints(desired, result.base_dir)
    # an outside agent (a2a tool) that changed its card is a change too; one that is gone an error
    try:
        desired = with_cards(desired, environ)
    except CardError as exc:
        raise WorkflowError(str(exc)) from exc
    try:
        with open_state(state_url, spec.project, environment, result.base_dir) as store:
            recorded = store.read()
    except StateError as exc:
        raise WorkflowError(str(exc)) from exc
    if not (refresh or need_provider):
        provider = None
    elif provider is None:
        provider = _load_provider(
            spec, environment, result.base_dir, need_provider, result.sensitive
        )
    if warm_up and provider is not None and desired:
        start = getattr(provider, "warm_up", None)
        if callable(start):  # optional in the protocol: get ready while we plan
            start()
    observed: dict[str, ObservedResource | None] | None = None
    if refresh and provider is not None:
        try:
            kinds = {v.kind for v in desired.values()}
            kinds |= {r.kind for r in recorded.resources.values()} if recorded else set()
            observed = observe(provider, kinds, recorded)
        except ProviderError as exc:
            raise WorkflowError(
                f"provider {spec.target.provider!r} could not read what runs: {exc}"
            ) from exc
    replace_fields: Mapping[str, Iterable[str]] = {}
    if provider is not None:
        replace_fields = dict(getattr(provider, "replace_fields", {}) or {})
    try:
        plan = make_plan(
            desired,
            recorded,
            observed,
            replace_fields=replace_fields,
            targets=targets,
            force_replace=replace,
            refresh_only=refresh_only,
            project=spec.project,
            environment=environment,
        )
    except PlanError as exc:
        raise WorkflowError(str(exc)) from exc
    return Prepared(
        spec=spec,
        plan=plan,
        recorded=recorded,
        provider=provider,
        base_dir=result.base_dir,
        state_url=state_url,
        environment=environment,
        environ=environ,
        open_state=open_state,
        sensitive=result.sensitive,
    )


def _load_provider(
    spec: Spec, environment: str, base_dir: str, needed: bool, sensitive: Mapping[str, str]
) -> Provider:
    """The spec's target provider, through its entry point."""
    try:
        context = ProviderContext(spec.project, environment, str(base_dir), sensitive)
        return load_provider(spec.target.provider, spec.target.config, context)
    except ProviderLoadError as exc:
        hint = "" if needed else "; to plan against recorded state only, pass --no-refresh"
        raise WorkflowError(f"{exc}{hint}") from exc


def load_saved_plan(prepared: Prepared, plan_file: str | os.PathLike[str]) -> Plan:
    """The plan saved in ``plan_file`` (``agentform plan --out``), if it is for this spec's
    project and environment, its sensitive variables have the values it was made with, and the
    files the spec points at the content it was made with."""
    try:
        plan = loads(Path(plan_file).read_text(encoding="utf-8"), source=str(plan_file))
    except PlanFileError as exc:
        raise WorkflowError(str(exc)) from exc
    if (plan.project, plan.environment) != (prepared.spec.project, prepared.environment):
        raise WorkflowError(
            f"{plan_file} is a plan for {plan.project} ({plan.environment}), not for "
            f"{prepared.spec.project} ({prepared.environment})"
        )
    # the plan holds fingerprints, the values come from this run: they must be the same ones
    changed = changed_since(plan, prepared.sensitive, prepared.spec.project)
    if changed:
        many = len(changed) > 1
        raise WorkflowError(
            f"{plan_file} was made with another value of the sensitive variable"
            f"{'s' if many else ''} {', '.join(changed)}; pass the value{'s' if many else ''}"
            " the plan was made with (--var or AGENTFORM_VAR_NAME), or run 'agentform plan'"
            " again"
        )
    edited = files_changed_since((c.after for c in plan.changes), prepared.base_dir)
    if edited:
        raise WorkflowError(
            f"{', '.join(edited)} changed since {plan_file} was made (the plan holds the"
            " fingerprint of its content then); run 'agentform plan' again"
        )
    return plan


def carry_out(
    prepared: Prepared,
    plan: Plan | None = None,
    *,
    parallelism: int = 10,
    allow_data_loss: bool = False,
    on_event: Callable[[ApplyEvent], None] | None = None,
    operation: str = "apply",
) -> ApplyResult:
    """Apply ``plan`` (default: the prepared one) through the prepared provider, recording
    state after every change; the result says what was done, failed and skipped.

    Raises :class:`WorkflowError` when apply refuses to start (a stale plan, data that would be
    lost, the state locked) or state cannot be written. Each snapshot records the git commit
    the spec's directory is at; a provider call may take ``AGENTFORM_PROVIDER_TIMEOUT`` seconds
    (default 600).
    """
    provider = _provider(prepared)
    chosen = prepared.plan if plan is None else plan
    commit = git_commit(prepared.base_dir)
    begin = getattr(provider, "begin_run", None)
    if callable(begin):  # who runs what, for the runtime's audit log (optional in the protocol)
        begin(
            {
                "operation": operation,
                "serial": str(chosen.serial + 1),
                "user": apply_user(prepared.environ),
                **({"commit": commit} if commit else {}),
            }
        )
    try:
        with prepared.open_store() as store:
            return apply_plan(
                chosen,
                provider,
                store,
                parallelism=parallelism,
                on_event=on_event,
                allow_data_loss=allow_data_loss,
                git_commit=commit,
                call_timeout=_provider_timeout(prepared.environ),
            )
    except (ApplyError, StateError) as exc:
        raise WorkflowError(str(exc)) from exc


def import_resource(prepared: Prepared, address: str, object_id: str) -> RecordedResource:
    """Adopt the provider's object ``object_id`` as ``address`` (which the spec must declare)
    and record it as it is in a new state serial; the next plan shows how it differs."""
    if address not in {c.address for c in prepared.plan.changes}:
        raise WorkflowError(f"{address} is not declared in the spec; add it first, then import it")
    kind, name = Address.parts(address)
    try:
        observed = _provider(prepared).import_(kind, object_id)
    except ProviderError as exc:
        raise WorkflowError(f"could not import {object_id!r}: {exc}") from exc
    resource = RecordedResource(
        kind=kind,
        name=name,
        provider=prepared.spec.target.provider,
        id=observed.id,
        # the values it has, not what the provider reports about it (an agent's status)
        values=own_values(address, observed.values),
    )
    try:
        store = prepared.open_store()
        with store, store.lock("import"):
            latest = store.read() or empty(prepared.spec.project, prepared.environment)
            if address in latest.resources:
                raise WorkflowError(
                    f"{address} is already in the state; 'agentform state rm {address}' "
                    "first if it should track another object"
                )
            resources = {**latest.resources, address: resource}
            store.write(latest.next(resources), expected_serial=latest.serial)
    except StateError as exc:
        raise WorkflowError(str(exc)) from exc
    return resource


def plan_rollback(prepared: Prepared, serial: int) -> Plan:
    """A plan that makes what runs match state serial ``serial`` again: its recorded values
    become the desired state (the spec files are not consulted)."""
    try:
        with prepared.open_store() as store:
            target = store.read_serial(serial)
            current = store.read()
    except StateError as exc:
        raise WorkflowError(str(exc)) from exc
    desired = {
        a: ResourceValue(a, r.kind, r.name, dict(r.values)) for a, r in target.resources.items()
    }
    kinds = {r.kind for r in target.resources.values()}
    kinds |= {r.kind for r in current.resources.values()} if current else set()
    observed = observe(_provider(prepared), kinds, current)
    return make_plan(
        desired, current, observed, project=prepared.spec.project, environment=prepared.environment
    )


def _provider(prepared: Prepared) -> Provider:
    if prepared.provider is None:
        raise ValueError("this step needs a provider: call prepare_plan with need_provider=True")
    return prepared.provider


def _provider_timeout(environ: Mapping[str, str]) -> float:
    """Seconds one provider call may take (``AGENTFORM_PROVIDER_TIMEOUT``, default 600)."""
    raw = environ.get("AGENTFORM_PROVIDER_TIMEOUT", "600")
    try:
        value = float(raw)
    except ValueError:
        raise WorkflowError(
            f"AGENTFORM_PROVIDER_TIMEOUT={raw!r} is not a number of seconds"
        ) from None
    if value <= 0:
        raise WorkflowError("AGENTFORM_PROVIDER_TIMEOUT must be a positive number of seconds")
    return value
