"""Diagnostics: the one way agentform reports a problem with user input.

Owns :class:`Severity`, :class:`Location` and :class:`Diagnostic`, and the catalogue of stable
codes in :mod:`agentform.diagnostics.codes`. Validation *collects* diagnostics (every problem in
one run) rather than raising; the renderers in :mod:`.human`, :mod:`.machine` and :mod:`.sarif`
turn a list of them into text for people, JSON, GitHub annotations or SARIF. Called by the spec
loader and checks (which produce them) and by the CLI (which renders them).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Diagnostic", "Location", "Severity", "has_errors", "sort_key"]


class Severity(enum.Enum):
    """How bad a problem is; only errors make ``validate`` fail."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a source file; ``line`` and ``column`` are 1-based."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem: what (summary), why (detail), where (location, address), what to do (hint)."""

    severity: Severity
    code: str
    summary: str
    detail: str = ""
    address: str | None = None
    location: Location | None = None
    hint: str | None = None
    related: tuple[Location, ...] = field(default=())

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def to_dict(self) -> dict[str, object]:
        """The documented JSON shape of a diagnostic (``validate --format json``)."""
        out: dict[str, object] = {
            "severity": self.severity.value,
            "code": self.code,
            "summary": self.summary,
        }
        if self.detail:
            out["detail"] = self.detail
        if self.address:
            out["address"] = self.address
        if self.location:
            out["location"] = {
                "file": self.location.file,
                "line": self.location.line,
                "column": self.location.column,
            }
        if self.hint:
            out["hint"] = self.hint
        if self.related:
            out["related"] = [
                {"file": r.file, "line": r.line, "column": r.column} for r in self.related
            ]
        return out


_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.NOTE: 2}


def sort_key(d: Diagnostic) -> tuple[str, int, int, int, str, str]:
    """Order diagnostics by file position, then severity, so output reads top to bottom."""
    loc = d.location
    return (
        loc.file if loc else "",
        loc.line if loc else 0,
        loc.column if loc else 0,
        _SEVERITY_ORDER[d.severity],
        d.code,
        d.summary,
    )


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)
