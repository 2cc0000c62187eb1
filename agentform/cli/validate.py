"""``agentform validate``: check a spec and report every problem, for people or for CI."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import click

from agentform.cli.options import spec_options, spec_path_argument, var_values

__all__ = ["command"]

FORMATS = ("human", "json", "sarif", "github")


def _inventory(spec: object) -> str:
    parts = []
    for section, word in (
        ("agents", "agent"),
        ("models", "model"),
        ("tools", "tool"),
        ("memory", "memory store"),
        ("policies", "polic"),
        ("schedules", "schedule"),
    ):
        n = len(getattr(spec, section))
        if n:
            plural = ("y" if n == 1 else "ies") if word == "polic" else ("" if n == 1 else "s")
            parts.append(f"{n} {word}{plural}")
    return ", ".join(parts)


def _codes(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> frozenset[str]:
    from agentform.diagnostics.codes import CODES

    codes = frozenset(code.upper() for code in value)
    unknown = sorted(codes - CODES.keys())
    if unknown:
        raise click.BadParameter(
            f"unknown diagnostic code {unknown[0]!r}; the codes are listed in docs/diagnostics.md"
        )
    return codes


@click.command("validate")
@spec_path_argument
@spec_options
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(FORMATS),
    default="human",
    show_default=True,
    help="human: compiler-style text; json: machine-readable; "
    "sarif: GitHub code scanning; github: workflow annotations.",
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
@click.option(
    "--allow",
    "allowed",
    multiple=True,
    metavar="CODE",
    callback=_codes,
    help="Accept warnings of this code under --strict; they are still printed. Repeatable, "
    "e.g. --allow AF219 once the team has read what is not enforced yet.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the report to a file instead of standard output.",
)
def command(
    path: str,
    env: str | None,
    variables: tuple[str, ...],
    fmt: str,
    strict: bool,
    allowed: frozenset[str],
    output: str | None,
) -> None:
    """Check the spec at PATH (a file, or a directory of *.yaml, hidden files left out;
    default: the project found from the current directory, or named with the global -C).

    Without --env, the base spec and every declared environment are checked. Every problem
    is reported in one run, with its file:line:column, a stable code and a hint.

    --strict fails on warnings too; --allow CODE (repeatable) exempts warnings of that code,
    which are still printed: "validate --strict --allow AF219" keeps CI strict while the
    runtime does not enforce every setting the spec accepts yet.

    Exit status: 0 valid, 1 invalid (or warnings with --strict, except allowed codes),
    2 usage error.
    """
    from agentform import __version__
    from agentform.cli.console import finish
    from agentform.diagnostics import Diagnostic, Location, Severity, sort_key
    from agentform.spec.collector import paused_collector
    from agentform.spec.files import read_spec

    values = var_values(variables)
    known: list[frozenset[str]] = []

    def prepare() -> None:
        # what building needs, imported while other CPUs parse the parts of a large spec
        from agentform.provider import provider_names
        from agentform.spec import parallel  # noqa: F401  (the loader, models and checks)

        known.append(provider_names())

    with paused_collector():
        raw = read_spec(path, meanwhile=prepare)
    from agentform.spec.parallel import build_targets

    if env is not None:
        targets: list[str | None] = [env]
    else:
        declared = raw.document.get("environments") if raw.document else None
        targets = [None, *(sorted(declared) if isinstance(declared, dict) else [])]
    providers = known[0]
    # the base and each environment are built from the same read files, on several CPUs when
    # the spec is large enough to gain from it; diagnostics come back in target order
    builds = build_targets(raw, targets, variables=values, environ=os.environ, providers=providers)
    merged: dict[tuple[str, str, Location | None], Diagnostic] = {}
    for target, target_diagnostics in zip(targets, builds.diagnostics, strict=True):
        for found in target_diagnostics:
            key = (found.code, found.summary, found.location)
            if key in merged:
                continue
            if target is not None and env is None:
                note = f"in environment {target!r}"
                found = dataclasses.replace(  # noqa: PLW2901
                    found, detail=f"{found.detail} ({note})" if found.detail else note
                )
            merged[key] = found
    diagnostics = sorted(merged.values(), key=sort_key)
    failed = any(
        d.severity is Severity.ERROR
        or (strict and d.severity is Severity.WARNING and d.code not in allowed)
        for d in diagnostics
    )
    files = raw.files
    if fmt == "human":
        from agentform.cli.console import echo_diagnostics, use_color
        from agentform.diagnostics.human import summary_line

        sources = builds.first.smap.texts
        echo_diagnostics(diagnostics, sources)
        name = path if path != "." else str(Path.cwd().name)
        what = f"{name} ({len(files)} file{'' if len(files) == 1 else 's'}"
        if len(targets) > 1:
            n = len(targets) - 1
            what += f", base + {n} environment{'' if n == 1 else 's'}"
        elif env:
            what += f", environment {env!r}"
        what += ")"
        line = summary_line(diagnostics, what)
        spec = builds.first.spec
        if spec is not None and not failed:
            line += f": {_inventory(spec)}" if _inventory(spec) else ""
        mark = (
            click.style("✗", fg="red", bold=True)
            if failed
            else click.style("✓", fg="green", bold=True)
        )
        click.echo(f"{mark} {line}", color=use_color())
        finish(1 if failed else 0)
    if fmt == "json":
        from agentform.diagnostics.machine import render_json

        text = render_json(diagnostics, files=files, environment=env)
    elif fmt == "sarif":
        from agentform.diagnostics.sarif import render_sarif

        # GitHub code scanning rejects a result without a location: pin those to the spec file
        text = render_sarif(
            diagnostics,
            tool_version=__version__,
            fallback_file=files[0] if files else None,
        )
    else:
        from agentform.diagnostics.machine import render_github

        text = render_github(diagnostics)
    if output:
        Path(output).write_text(
            text if text.endswith("\n") or not text else text + "\n", encoding="utf-8"
        )
    else:
        click.echo(text, nl=not text.endswith("\n"))
    finish(1 if failed else 0)
