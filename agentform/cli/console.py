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

__all__ = ["echo_diagnostics", "enable_fast_exit", "fail", "finish", "use_color"]

_exit = {"fast": False}  # set by enable_fast_exit


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


def enable_fast_exit() -> None:
    """Let :func:`finish` end the process at once. Only the console script calls this: in a
    test runner or any other host process, :func:`finish` raises ``SystemExit`` as usual."""
    _exit["fast"] = True


def finish(code: int) -> NoReturn:
    """Exit with ``code`` once a command has written all its output.

    In the console script the process ends here, after flushing standard output and error,
    without unwinding: freeing what a large spec's load built (millions of objects) takes a
    tenth of a second and serves nobody, since the process is about to end (mypy ends the
    same way). Commands that own resources needing cleanup (files, subprocesses, threads)
    use ``sys.exit``.
    """
    if _exit["fast"]:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
