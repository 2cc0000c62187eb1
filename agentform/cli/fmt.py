"""``agentform fmt``: rewrite spec files in the canonical layout, keeping comments."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from agentform.cli.project import resolve_projects

__all__ = ["command"]


def _spec_files(paths: tuple[str, ...]) -> list[Path]:
    from agentform.spec import read_spec

    files: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = read_spec(path).files
            if not found:
                raise click.UsageError(
                    f"no *.yaml spec files in directory {p}; pass spec files or the "
                    "directory that holds agentform.yaml"
                )
            files.extend(Path(f) for f in found)
        else:
            files.append(path)
    seen: set[Path] = set()
    return [f for f in files if not (f.resolve() in seen or seen.add(f.resolve()))]  # type: ignore[func-returns-value]


@click.command("fmt")
@click.argument("paths", nargs=-1, type=click.Path(exists=True), callback=resolve_projects)
@click.option(
    "--check", is_flag=True, help="Change nothing; exit 1 if any file is not formatted (for CI)."
)
@click.option("--diff", "show_diff", is_flag=True, help="Print a unified diff of the changes.")
def command(paths: tuple[str, ...], check: bool, show_diff: bool) -> None:
    """Format spec files: canonical key order and indentation, comments kept.

    PATHS are spec files or directories (default: the project, found from the current
    directory); a directory means its spec files and everything they include.

    Exit status: 0 formatted (or, with --check, already formatted), 1 a file would change or
    cannot be parsed, 2 usage error.
    """
    from agentform.cli.console import echo_diagnostics
    from agentform.diagnostics import Diagnostic, Location, Severity
    from agentform.spec.fmt import FormatError, diff, format_text

    files = _spec_files(paths)
    changed: list[Path] = []
    broken = False
    for file in files:
        text = file.read_text(encoding="utf-8")
        try:
            formatted = format_text(text)
        except FormatError as exc:
            broken = True
            echo_diagnostics(
                [
                    Diagnostic(
                        Severity.ERROR,
                        "AF001",
                        f"cannot format: {exc}",
                        location=Location(str(file), exc.line, exc.column),
                    )
                ],
                {str(file): text},
                err=True,
            )
            continue
        if formatted == text:
            continue
        changed.append(file)
        if show_diff:
            click.echo(diff(text, formatted, str(file)), nl=False)
        if not check:
            file.write_text(formatted, encoding="utf-8")
    verb = "would reformat" if check else "reformatted"
    for file in changed:
        click.echo(f"{verb} {file}", err=True)
    unchanged = len(files) - len(changed)
    click.echo(
        f"{len(changed)} file{'s' if len(changed) != 1 else ''} {verb}, "
        f"{unchanged} already formatted",
        err=True,
    )
    if broken or (check and changed):
        sys.exit(1)
