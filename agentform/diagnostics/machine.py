"""Diagnostics for machines: the ``validate --format json`` document and GitHub annotations.

Owns the stable JSON report (:func:`render_json`, shape versioned by :data:`JSON_FORMAT_VERSION`)
and GitHub Actions workflow commands (:func:`render_github`), one ``::error``/``::warning``/
``::notice`` line per diagnostic. SARIF lives in :mod:`agentform.diagnostics.sarif`. Pure: returns
strings and never prints. Called by the CLI, which chooses the format and writes the text out.

The JSON document::

    {
      "format_version": 1,
      "valid": false,            # true when there is no error (warnings and notes allowed)
      "error_count": 1,
      "warning_count": 0,
      "files": ["agentform.yaml"],
      "environment": "prod",     # null when none was selected
      "diagnostics": [ ... ]     # Diagnostic.to_dict(), in the order given
    }

Fields are only ever added; removing or changing one bumps ``format_version``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from agentform.diagnostics import Diagnostic, Severity, has_errors
from agentform.diagnostics.codes import CODES

__all__ = ["JSON_FORMAT_VERSION", "render_github", "render_json"]

JSON_FORMAT_VERSION = 1

_COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "notice"}


def render_json(
    diagnostics: Sequence[Diagnostic], *, files: Sequence[str], environment: str | None = None
) -> str:
    """The JSON report: indented, ASCII-only (safe on any terminal), ending with a newline."""
    report = {
        "format_version": JSON_FORMAT_VERSION,
        "valid": not has_errors(diagnostics),
        "error_count": sum(1 for d in diagnostics if d.severity is Severity.ERROR),
        "warning_count": sum(1 for d in diagnostics if d.severity is Severity.WARNING),
        "files": list(files),
        "environment": environment,
        "diagnostics": [d.to_dict() for d in diagnostics],
    }
    return json.dumps(report, indent=2) + "\n"


def _escape_data(text: str) -> str:
    # the runner reads one command per line and unescapes exactly these; '%' goes first
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _title(code: str) -> str:
    known = CODES.get(code)
    return f"{code} {known.name}" if known else code


def _command(d: Diagnostic) -> str:
    """One workflow command, e.g. ``::error file=a.yaml,line=3,col=5,title=AF201 ...::text``."""
    props: list[tuple[str, str]] = []
    if d.location:
        props += [
            ("file", d.location.file),
            ("line", str(d.location.line)),
            ("col", str(d.location.column)),
        ]
    props.append(("title", _title(d.code)))
    rendered = ",".join(f"{key}={_escape_property(value)}" for key, value in props)
    message = f"{d.summary} — {d.hint}" if d.hint else d.summary
    return f"::{_COMMANDS[d.severity]} {rendered}::{_escape_data(message)}"


def render_github(diagnostics: Sequence[Diagnostic]) -> str:
    """One workflow command per diagnostic, each on its own line (empty if none)."""
    return "".join(_command(d) + "\n" for d in diagnostics)
