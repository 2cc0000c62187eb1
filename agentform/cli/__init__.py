"""The ``agentform`` command line: the only layer that prints, prompts or exits.

Each command lives in its own module and imports heavy libraries (pydantic, jinja2, rich) inside
the command body, so ``agentform --help`` starts fast. Exit codes: 0 success, 1 the input is
invalid or an operation failed, 2 usage error (bad flags or arguments).
"""

from __future__ import annotations

import click

from agentform import __version__
from agentform.cli import (
    apply,
    approvals,
    audit,
    bus,
    console,
    fmt,
    graph,
    init,
    memory,
    plan,
    project,
    runtime,
    schedules,
    schema,
    state,
    tasks,
    tokens,
    validate,
)

__all__ = ["cli", "main"]

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="agentform")
@project.project_option
@runtime.token_option
@click.option(
    "--color/--no-color",
    default=None,
    help="Force colour on or off (default: on for terminals, off when NO_COLOR is set).",
)
@click.pass_context
def cli(ctx: click.Context, color: bool | None) -> None:
    """agentform: infrastructure-as-code for production AI agent systems.

    Describe agents, models, tools, memory, policies and schedules in YAML kept in git;
    validate them here and in CI.

    Every command works on the project found from the current directory (the nearest one
    holding agentform.yaml, as git finds .git), or on the one -C PATH names.

    \b
    Start:      agentform init support-desk && agentform validate
    Elsewhere:  agentform -C path/to/project status
    In CI:      agentform validate --format github && agentform fmt --check
    """
    ctx.color = color


for _module in (init, validate, fmt, schema, graph):
    cli.add_command(_module.command)
cli.add_command(plan.plan_command)
cli.add_command(plan.show_command)
cli.add_command(apply.apply_command)
cli.add_command(apply.destroy_command)
cli.add_command(apply.import_command)
cli.add_command(apply.rollback_command)
cli.add_command(state.group)
cli.add_command(state.force_unlock_command)
cli.add_command(tasks.send_command)
cli.add_command(runtime.status_command)
cli.add_command(tasks.tasks_group)
cli.add_command(approvals.approvals_group)
cli.add_command(audit.audit_group)
cli.add_command(bus.bus_group)
cli.add_command(runtime.logs_command)
cli.add_command(runtime.engine_group)
cli.add_command(tokens.tokens_group)
cli.add_command(memory.memory_group)
cli.add_command(schedules.schedules_group)


def main() -> None:
    """The ``agentform`` console script (and ``python -m agentform``)."""
    console.enable_fast_exit()
    cli(prog_name="agentform")
