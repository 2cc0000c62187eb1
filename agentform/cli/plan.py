"""``agentform plan`` and ``agentform show``: what apply would change, and why.

``plan`` loads the spec, reads the recorded state of its environment and (unless
``--no-refresh``) what the target provider observes, and prints the changes with their reasons
and risk flags; ``--json`` prints the plan document (``schemas/plan.schema.json``), ``-out FILE``
saves it for ``apply FILE``, ``--detailed-exitcode`` makes CI able to tell "changes" from
"no changes". ``show FILE`` renders a saved plan. The pipeline itself is
:func:`agentform.workflow.prepare_plan`; this module parses options, prints and exits.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from agentform.cli.console import fail
from agentform.cli.options import spec_options, spec_path_argument, state_url_option, var_values

if TYPE_CHECKING:
    from agentform.workflow import Prepared, WorkflowError

__all__ = ["fail_workflow", "plan_command", "prepare", "show_command"]


def prepare(
    path: str,
    env: str | None,
    variables: tuple[str, ...],
    state_url: str | None,
    *,
    refresh: bool,
    targets: tuple[str, ...] = (),
    replace: tuple[str, ...] = (),
    refresh_only: bool = False,
    destroy: bool = False,
    need_provider: bool = False,
    warm_up: bool = False,
) -> Prepared:
    """:func:`agentform.workflow.prepare_plan` with a command's options; or stop with a message
    (exit 1) saying what is wrong."""
    from agentform.workflow import WorkflowError, prepare_plan

    values = var_values(variables)
    try:
        return prepare_plan(
            path, env=env, variables=values, state_url=state_url, refresh=refresh,
            targets=targets, replace=replace, refresh_only=refresh_only, destroy=destroy,
            need_provider=need_provider, warm_up=warm_up,
        )  # fmt: skip
    except WorkflowError as exc:
        fail_workflow(exc)


def fail_workflow(error: WorkflowError) -> NoReturn:
    """Print the spec's errors (if that was the problem) and the error's sentence; exit 1."""
    from agentform.cli.console import echo_diagnostics

    if error.diagnostics:
        echo_diagnostics(error.diagnostics, error.sources, err=True)
    fail(str(error))


@click.command("plan")
@spec_path_argument
@spec_options
@state_url_option
@click.option(
    "--refresh/--no-refresh",
    default=True,
    show_default=True,
    help="Ask the provider what really runs (drift) or plan against recorded state only.",
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="ADDR",
    help="Plan only ADDR and what it depends on (repeatable).",
)
@click.option(
    "--replace",
    "replace",
    multiple=True,
    metavar="ADDR",
    help="Replace ADDR even if it is up to date (repeatable).",
)
@click.option("--refresh-only", is_flag=True, help="Only report drift; change nothing else.")
@click.option(
    "--out",
    "-o",
    "out",
    type=click.Path(dir_okay=False),
    help="Save the plan to a file for 'agentform apply FILE'.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 0 with no changes, 2 with changes, 1 on error."
)
def plan_command(
    path: str,
    env: str | None,
    variables: tuple[str, ...],
    state_url: str | None,
    refresh: bool,
    targets: tuple[str, ...],
    replace: tuple[str, ...],
    refresh_only: bool,
    out: str | None,
    as_json: bool,
    detailed_exitcode: bool,
) -> None:
    """Show what 'agentform apply' would change to make the spec at PATH real.

    PATH is a spec file or directory; by default, the project found from the current directory
    (or named with the global -C).

    The files the spec points at count as well: an edited rule file of a scripted model or
    code of an MCP server named in a tool's command is an update of that model or tool, and
    applying it restarts the workers that use it.

    Exit status: 0 success, 1 error (invalid spec, state or provider problem), and with
    --detailed-exitcode 2 when there are changes.
    """
    from agentform.cli.console import use_color
    from agentform.planfile import dumps
    from agentform.render import render_plan

    prepared = prepare(
        path, env, variables, state_url, refresh=refresh or refresh_only, targets=targets,
        replace=replace, refresh_only=refresh_only,
    )  # fmt: skip
    plan = prepared.plan
    if out:
        Path(out).write_text(dumps(plan), encoding="utf-8")
    if as_json:
        click.echo(dumps(plan), nl=False)
    else:
        click.echo(
            render_plan(plan, color=use_color(), now=datetime.now(UTC)), nl=False, color=use_color()
        )
        if out:
            click.echo(f'\nSaved the plan to {out}: apply it with "agentform apply {out}".')
    if detailed_exitcode and plan.has_changes:
        sys.exit(2)


@click.command("show")
@click.argument("plan_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the plan document as JSON.")
def show_command(plan_file: str, as_json: bool) -> None:
    """Show a plan saved with 'agentform plan --out FILE'."""
    from agentform.cli.console import use_color
    from agentform.planfile import PlanFileError, dumps, loads
    from agentform.render import render_plan

    try:
        plan = loads(Path(plan_file).read_text(encoding="utf-8"), source=plan_file)
    except PlanFileError as exc:
        fail(str(exc))
    where = f"state serial {plan.serial}" if plan.lineage else "no state yet"
    if as_json:
        click.echo(dumps(plan), nl=False)
        return
    click.echo(f"Plan for {plan.project} ({plan.environment}), made against {where}.\n")
    click.echo(
        render_plan(plan, color=use_color(), now=datetime.now(UTC)), nl=False, color=use_color()
    )
