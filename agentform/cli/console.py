"""Terminal output for the CLI: colour decisions and diagnostics printing.

Owns when to use colour (``--color/--no-color``, ``NO_COLOR``, a terminal or not) and writing
diagnostics in the human format; other formats are plain text written as they are.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import NoReturn, TextIO

import click

from agentform.diagnostics import Diagnostic

__all__ = ["echo_diagnostics", "fail", "use_color"]


def use_color(stream: TextIO | None = None) -> bool:
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.color is not None:
        return bool(ctx.color)
    if os.environ.get("NO_COLOR"):
        return False
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def echo_diagnostics(
    diagnostics: Sequence[Diagnostic], sources: Mapping[str, str], *, err: bool = False
) -> None:
    from agentform.diagnostics.human import render_human

    color = use_color(sys.stderr if err else sys.stdout)
    text = render_human(diagnostics, sources, color=color)
    if text:
        click.echo(text, err=err, color=color)


def fail(message: str) -> NoReturn:
    """Print ``error: MESSAGE`` on standard error and exit 1 (the command could not be done)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)
