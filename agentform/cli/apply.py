"""``agentform apply`` and ``agentform destroy``: make the spec real, or remove what it made.

``apply [PATH]`` plans (refreshing through the target provider), shows the plan, asks for
confirmation (``--auto-approve`` skips it; without a terminal it is required), then carries it
out with :func:`agentform.workflow.carry_out`, printing progress. ``apply --plan FILE`` carries out
a saved plan instead, refused if the state has moved past it. ``destroy`` plans the deletion of
everything recorded. Exit status: 0 done, 1 refused or anything failed, 2 usage error.
"""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from agentform.cli.console import fail
from agentform.cli.options import (
    spec_options,
    spec_path_argument,
    spec_path_option,
    state_url_option,
)
from agentform.cli.plan import fail_workflow, prepare

if TYPE_CHECKING:
    from agentform.plan import Plan
    from agentform.workflow import Prepared

__all__ = ["apply_command", "destroy_command", "import_command", "rollback_command"]


def _confirm(auto_approve: bool, question: str) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        fail("no terminal to confirm on; pass --auto-approve to apply without asking")
    if not click.confirm(question, default=False):
        click.echo("Nothing was changed.")
        sys.exit(1)


def _carry_out(
    prepared: Prepared,
    plan: Plan,
    parallelism: int,
    allow_data_loss: bool,
    operation: str = "apply",
) -> None:
    from agentform.apply import ApplyEvent
    from agentform.workflow import WorkflowError, carry_out

    printing = threading.Lock()

    def progress(event: ApplyEvent) -> None:
        if event.status in ("done", "failed", "skipped", "retrying"):
            with printing:
                suffix = f": {event.message}" if event.message else ""
                click.echo(f"  {event.action.symbol:>3} {event.address} {event.status}{suffix}")

    try:
        result = carry_out(
            prepared,
            plan,
            parallelism=parallelism,
            on_event=progress,
            allow_data_loss=allow_data_loss,
            operation=operation,
        )
    except WorkflowError as exc:
        fail_workflow(exc)
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
@spec_path_argument
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Carry out a plan saved with 'agentform plan --out FILE' (refused once state, a"
    " sensitive variable or a file the spec points at changed since).",
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
    """Make the spec at PATH real through its target provider, recording state as it goes.

    PATH is a spec file or directory; by default, the project found from the current directory
    (or named with the global -C).
    """
    from agentform.cli.console import use_color
    from agentform.render import render_plan
    from agentform.workflow import WorkflowError, load_saved_plan

    prepared = prepare(
        path,
        env,
        variables,
        state_url,
        refresh=plan_file is None,
        targets=targets,
        replace=replace,
        need_provider=True,
        # nobody is asked: the plan will be carried out, the provider may get ready meanwhile
        warm_up=auto_approve and plan_file is None,
    )
    plan = prepared.plan
    if plan_file is not None:
        try:
            plan = load_saved_plan(prepared, plan_file)
        except WorkflowError as exc:
            fail_workflow(exc)
    click.echo(
        render_plan(plan, color=use_color(), now=datetime.now(UTC)), nl=False, color=use_color()
    )
    if not plan.has_changes:
        return
    if plan_file is None:
        _confirm(auto_approve, "Apply these changes?")
    _carry_out(prepared, plan, parallelism, allow_data_loss)


@click.command("destroy")
@spec_path_argument
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
    """Destroy everything the spec at PATH made (in reverse dependency order).

    PATH is a spec file or directory; by default, the project found from the current directory
    (or named with the global -C).
    """
    from agentform.cli.console import use_color
    from agentform.render import render_plan

    prepared = prepare(
        path, env, variables, state_url, refresh=True, destroy=True, need_provider=True
    )
    click.echo(
        render_plan(prepared.plan, color=use_color(), now=datetime.now(UTC)),
        nl=False,
        color=use_color(),
    )
    if not prepared.plan.has_changes:
        return
    _confirm(auto_approve, "Destroy all of these?")
    _carry_out(prepared, prepared.plan, parallelism, allow_data_loss, "destroy")


@click.command("import")
@click.argument("address")
@click.argument("object_id", metavar="ID")
@spec_path_option("The spec (file or directory) that declares ADDRESS")
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

    The object's values are recorded as the provider reads them (not what it reports about
    the object, such as an agent's status); the next plan shows what differs from the spec.
    """
    from agentform.workflow import WorkflowError, import_resource

    prepared = prepare(path, env, variables, state_url, refresh=False, need_provider=True)
    try:
        import_resource(prepared, address, object_id)
    except WorkflowError as exc:
        fail_workflow(exc)
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
@spec_path_option("The spec (file or directory) that names the project")
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
    from agentform.render import render_plan
    from agentform.workflow import WorkflowError, plan_rollback

    prepared = prepare(path, env, variables, state_url, refresh=True, need_provider=True)
    try:
        plan = plan_rollback(prepared, serial)
    except WorkflowError as exc:
        fail_workflow(exc)
    click.echo(f"Rollback to state serial {serial}:\n")
    click.echo(
        render_plan(plan, color=use_color(), now=datetime.now(UTC)), nl=False, color=use_color()
    )
    if not plan.has_changes:
        return
    _confirm(auto_approve, f"Return to state serial {serial}?")
    _carry_out(prepared, plan, parallelism, allow_data_loss, f"rollback to serial {serial}")
