"""``agentform apply`` and ``agentform destroy``: make the spec real, or remove what it made.

``apply [PATH]`` plans (refreshing through the target provider), shows the plan, asks for
confirmation (``--auto-approve`` skips it; without a terminal it is required), then carries it
out with :func:`agentform.apply.apply_plan`, printing progress. ``apply --plan FILE`` carries out
a saved plan instead, refused if the state has moved past it. ``destroy`` plans the deletion of
everything recorded. Exit status: 0 done, 1 refused or anything failed, 2 usage error.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

import click

from agentform.cli.console import fail
from agentform.cli.options import spec_options, state_url_option
from agentform.cli.plan import Prepared, prepare

__all__ = ["apply_command", "destroy_command", "import_command", "rollback_command"]


def _confirm(auto_approve: bool, question: str) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        fail("no terminal to confirm on; pass --auto-approve to apply without asking")
    if not click.confirm(question, default=False):
        click.echo("Nothing was changed.")
        sys.exit(1)


def _carry_out(prepared: Prepared, plan: Any, parallelism: int, allow_data_loss: bool) -> None:
    from agentform.apply import ApplyError, ApplyEvent, apply_plan
    from agentform.state import StateError, open_store

    printing = threading.Lock()

    def progress(event: ApplyEvent) -> None:
        if event.status in ("done", "failed", "skipped", "retrying"):
            with printing:
                suffix = f": {event.message}" if event.message else ""
                click.echo(f"  {event.action.symbol:>3} {event.address} {event.status}{suffix}")

    spec = prepared.spec
    try:
        with open_store(
            prepared.state_url, spec.project, prepared.environment, prepared.base_dir
        ) as store:
            result = apply_plan(
                plan,
                prepared.provider,
                store,
                parallelism=parallelism,
                on_event=progress,
                allow_data_loss=allow_data_loss,
                git_commit=git_commit(prepared.base_dir),
                call_timeout=_provider_timeout(),
            )
    except (ApplyError, StateError) as exc:
        fail(str(exc))
    counts = (
        f"{len(result.created)} created, {len(result.updated)} updated, "
        f"{len(result.replaced)} replaced, {len(result.deleted)} destroyed"
    )
    if result.ok:
        click.echo(f"\nApply complete: {counts} (state serial {result.serial}).")
        return
    if result.interrupted:
        click.echo(
            f"\nInterrupted: {counts}; the changes in flight finished and are recorded (state"
            f" serial {result.serial}), {len(result.skipped)} never started. Run"
            " 'agentform apply' again to finish.",
            err=True,
        )
        sys.exit(130)
    click.echo(
        f"\nApply finished with errors: {counts}; "
        f"{len(result.failed)} failed, {len(result.skipped)} skipped.",
        err=True,
    )
    for address, reason in {**result.failed, **result.skipped}.items():
        click.echo(f"  {address}: {reason}", err=True)
    sys.exit(1)


def _common(func: Any) -> Any:
    """The options apply, destroy and rollback share: what to plan, and how to carry it out."""
    for option in (
        click.option(
            "--allow-data-loss",
            is_flag=True,
            help="Allow destroying or replacing memory stores that hold data.",
        ),
        click.option(
            "--parallelism",
            default=10,
            show_default=True,
            type=click.IntRange(1, 256),
            help="Changes carried out at once.",
        ),
        click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation."),
        state_url_option,
        spec_options,
    ):
        func = option(func)
    return func


@click.command("apply")
@click.argument(
    "path", required=False, default=".", type=click.Path(exists=True, file_okay=True, dir_okay=True)
)
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Carry out a plan saved with 'agentform plan --out FILE'.",
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="ADDR",
    help="Apply only ADDR and what it depends on (repeatable).",
)
@click.option(
    "--replace",
    "replace",
    multiple=True,
    metavar="ADDR",
    help="Replace ADDR even if it is up to date (repeatable).",
)
@_common
def apply_command(
    path: str,
    plan_file: str | None,
    targets: tuple[str, ...],
    replace: tuple[str, ...],
    env: str | None,
    variables: tuple[str, ...],
    state_url: str | None,
    auto_approve: bool,
    parallelism: int,
    allow_data_loss: bool,
) -> None:
    """Make the spec at PATH real through its target provider, recording state as it goes."""
    from agentform.cli.console import use_color
    from agentform.planfile import PlanFileError, loads
    from agentform.render import render_plan

    prepared = prepare(
        path,
        env,
        variables,
        state_url,
        refresh=plan_file is None,
        targets=targets,
        replace=replace,
        need_provider=True,
    )
    plan = prepared.plan
    if plan_file is not None:
        try:
            plan = loads(Path(plan_file).read_text(encoding="utf-8"), source=plan_file)
        except PlanFileError as exc:
            fail(str(exc))
        if (plan.project, plan.environment) != (prepared.spec.project, prepared.environment):
            fail(
                f"{plan_file} is a plan for {plan.project} ({plan.environment}), not for "
                f"{prepared.spec.project} ({prepared.environment})"
            )
    click.echo(render_plan(plan, color=use_color()), nl=False, color=use_color())
    if not plan.has_changes:
        return
    if plan_file is None:
        _confirm(auto_approve, "Apply these changes?")
    _carry_out(prepared, plan, parallelism, allow_data_loss)


@click.command("destroy")
@click.argument(
    "path", required=False, default=".", type=click.Path(exists=True, file_okay=True, dir_okay=True)
)
@_common
def destroy_command(
    path: str,
    env: str | None,
    variables: tuple[str, ...],
    state_url: str | None,
    auto_approve: bool,
    parallelism: int,
    allow_data_loss: bool,
) -> None:
    """Destroy everything the spec at PATH made (in reverse dependency order)."""
    from agentform.cli.console import use_color
    from agentform.render import render_plan

    prepared = prepare(
        path, env, variables, state_url, refresh=True, destroy=True, need_provider=True
    )
    click.echo(render_plan(prepared.plan, color=use_color()), nl=False, color=use_color())
    if not prepared.plan.has_changes:
        return
    _confirm(auto_approve, "Destroy all of these?")
    _carry_out(prepared, prepared.plan, parallelism, allow_data_loss)


@click.command("import")
@click.argument("address")
@click.argument("object_id", metavar="ID")
@click.option(
    "--path",
    "path",
    default=".",
    show_default=True,
    type=click.Path(exists=True),
    help="The spec (file or directory) that declares ADDRESS.",
)
@spec_options
@state_url_option
def import_command(
    address: str,
    object_id: str,
    path: str,
    env: str | None,
    variables: tuple[str, ...],
    state_url: str | None,
) -> None:
    """Adopt the existing object ID as ADDRESS (which the spec must declare).

    The object is recorded as it is; the next plan shows what differs from the spec.
    """
    from agentform.provider import ProviderError
    from agentform.state import RecordedResource, StateError, empty, open_store

    prepared = prepare(path, env, variables, state_url, refresh=False, need_provider=True)
    spec = prepared.spec
    if address not in {c.address for c in prepared.plan.changes}:
        fail(f"{address} is not declared in the spec; add it first, then import it")
    kind, _, name = address.partition(".")
    try:
        observed = prepared.provider.import_(kind, object_id)
    except ProviderError as exc:
        fail(f"could not import {object_id!r}: {exc}")
    try:
        store = open_store(state_url, spec.project, prepared.environment, prepared.base_dir)
        with store, store.lock("import"):
            latest = store.read() or empty(spec.project, prepared.environment)
            if address in latest.resources:
                fail(
                    f"{address} is already in the state; 'agentform state rm {address}' "
                    "first if it should track another object"
                )
            resources = dict(latest.resources)
            resources[address] = RecordedResource(
                kind=kind, name=name, provider=spec.target.provider, id=observed.id,
                values=dict(observed.values),
            )  # fmt: skip
            store.write(latest.next(resources), expected_serial=latest.serial)
    except StateError as exc:
        fail(str(exc))
    click.echo(
        f"imported {object_id} as {address}; run 'agentform plan' to see how it differs "
        "from the spec"
    )


@click.command("rollback")
@click.option(
    "--to",
    "serial",
    required=True,
    type=click.IntRange(1),
    metavar="SERIAL",
    help="The state serial to return to ('agentform state history' lists them).",
)
@click.option(
    "--path",
    "path",
    default=".",
    show_default=True,
    type=click.Path(exists=True),
    help="The spec (file or directory) that names the project.",
)
@_common
def rollback_command(
    serial: int,
    path: str,
    env: str | None,
    variables: tuple[str, ...],
    state_url: str | None,
    auto_approve: bool,
    parallelism: int,
    allow_data_loss: bool,
) -> None:
    """Return what runs to how it was at state serial SERIAL (plan, confirm, apply).

    The recorded values of that serial become the desired state; the spec files are not
    touched, so revert them in git too or the next plan will undo the rollback.
    """
    from agentform.cli.console import use_color
    from agentform.plan import make_plan, observe
    from agentform.provider import ResourceValue
    from agentform.render import render_plan
    from agentform.state import StateError, open_store

    prepared = prepare(path, env, variables, state_url, refresh=True, need_provider=True)
    spec = prepared.spec
    try:
        with open_store(state_url, spec.project, prepared.environment, prepared.base_dir) as store:
            target = store.read_serial(serial)
            current = store.read()
    except StateError as exc:
        fail(str(exc))
    desired = {
        a: ResourceValue(a, r.kind, r.name, dict(r.values)) for a, r in target.resources.items()
    }
    kinds = {r.kind for r in target.resources.values()}
    kinds |= {r.kind for r in current.resources.values()} if current else set()
    observed = observe(prepared.provider, kinds, current)
    plan = make_plan(
        desired, current, observed, project=spec.project, environment=prepared.environment
    )
    click.echo(f"Rollback to state serial {serial}:\n")
    click.echo(render_plan(plan, color=use_color()), nl=False, color=use_color())
    if not plan.has_changes:
        return
    _confirm(auto_approve, f"Return to state serial {serial}?")
    _carry_out(prepared, plan, parallelism, allow_data_loss)


def git_commit(directory: Any) -> str | None:
    """The commit the spec's directory is checked out at (``+dirty`` with local changes)."""
    import subprocess

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(directory), *args],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    dirty = git("status", "--porcelain", "--", ".", ":!.agentform")
    return f"{commit}+dirty" if dirty else commit


def _provider_timeout() -> float:
    """Seconds one provider call may take (``AGENTFORM_PROVIDER_TIMEOUT``, default 600)."""
    raw = os.environ.get("AGENTFORM_PROVIDER_TIMEOUT", "600")
    try:
        value = float(raw)
    except ValueError:
        fail(f"AGENTFORM_PROVIDER_TIMEOUT={raw!r} is not a number of seconds")
    if value <= 0:
        fail("AGENTFORM_PROVIDER_TIMEOUT must be a positive number of seconds")
    return value
