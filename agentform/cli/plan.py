"""``agentform plan`` and ``agentform show``: what apply would change, and why.

``plan`` loads the spec, reads the recorded state of its environment and (unless
``--no-refresh``) what the target provider observes, and prints the changes with their reasons
and risk flags; ``--json`` prints the plan document (``schemas/plan.schema.json``), ``-out FILE``
saves it for ``apply FILE``, ``--detailed-exitcode`` makes CI able to tell "changes" from
"no changes". ``show FILE`` renders a saved plan.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from agentform.cli.console import fail
from agentform.cli.options import spec_options, spec_path_argument, state_url_option, var_values

__all__ = ["Prepared", "plan_command", "prepare", "show_command"]


@dataclass
class Prepared:
    """A plan and what made it: the spec, the provider (None without refresh), the store URL."""

    spec: Any
    plan: Any
    provider: Any
    base_dir: str
    state_url: str | None
    environment: str


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
) -> Prepared:
    """Load the spec, read state, observe through the provider, and make the plan; or stop
    with a message (exit 1) saying what is wrong."""
    from agentform.cli.console import echo_diagnostics
    from agentform.plan import PlanError, make_plan, observe
    from agentform.provider import (
        ProviderContext,
        ProviderError,
        ProviderLoadError,
        load_provider,
    )
    from agentform.remote_cards import CardError, with_cards
    from agentform.resources import desired_resources
    from agentform.secrets import with_fingerprints
    from agentform.spec import load_spec
    from agentform.state import StateError, open_store

    result = load_spec(path, env=env, variables=var_values(variables), environ=os.environ)
    if result.spec is None:
        echo_diagnostics([d for d in result.diagnostics if d.is_error], result.smap.texts, err=True)
        fail("the spec is invalid; run 'agentform validate' for details")
    spec = result.spec
    assert spec is not None
    environment = env or "default"
    desired = {} if destroy else desired_resources(spec)
    # a rotated secret is a change too: fingerprints of the values, never the values
    desired = with_fingerprints(desired, os.environ, spec.project)
    # an outside agent (a2a tool) that changed its card is a change too; one that is gone an error
    try:
        desired = with_cards(desired, os.environ)
    except CardError as exc:
        fail(str(exc))
    try:
        with open_store(state_url, spec.project, environment, result.base_dir) as store:
            recorded = store.read()
    except StateError as exc:
        fail(str(exc))
    observed = None
    provider = None
    replace_fields: dict[str, Any] = {}
    if refresh or need_provider:
        try:
            context = ProviderContext(spec.project, env or "default", str(result.base_dir))
            provider = load_provider(spec.target.provider, spec.target.config, context)
        except ProviderLoadError as exc:
            hint = (
                "" if need_provider else "; to plan against recorded state only, pass --no-refresh"
            )
            fail(f"{exc}{hint}")
        replace_fields = dict(getattr(provider, "replace_fields", {}) or {})
    if refresh and provider is not None:
        try:
            kinds = {v.kind for v in desired.values()}
            kinds |= {r.kind for r in recorded.resources.values()} if recorded else set()
            observed = observe(provider, kinds, recorded)
        except ProviderError as exc:
            fail(f"provider {spec.target.provider!r} could not read what runs: {exc}")
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
        fail(str(exc))
    return Prepared(spec, plan, provider, result.base_dir, state_url, environment)


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
        click.echo(render_plan(plan, color=use_color()), nl=False, color=use_color())
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
    click.echo(render_plan(plan, color=use_color()), nl=False, color=use_color())
