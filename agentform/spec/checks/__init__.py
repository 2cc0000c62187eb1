"""Semantic checks: rules across the spec that a JSON Schema cannot express.

Each check is a function ``(CheckContext) -> None`` that reports through the context; every
check runs, so one validate run shows every problem. The checks are grouped by concern:
:mod:`.names` (identifiers and settings of one object), :mod:`.references` (names that must
resolve), :mod:`.coordination` (delegation cycles, reachability, fallback loops),
:mod:`.governance` (policies, conditions, approvals, access), :mod:`.memory` (memory stores),
:mod:`.filters` (content filters) and
:mod:`.enforcement` (settings the runtime does not enforce yet). Called by the loader after the
models validate; pure (no I/O).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentform.addresses import address_of_path
from agentform.diagnostics import Diagnostic, Severity
from agentform.spec.models import Spec
from agentform.spec.sourcemap import Path, SourceMap

__all__ = ["CheckContext", "run_checks"]


@dataclass
class CheckContext:
    """What every check reads (the spec and its locations) and where it writes (diagnostics)."""

    spec: Spec
    smap: SourceMap
    broken: frozenset[str] = frozenset()
    providers: frozenset[str] | None = None
    incomplete: bool = False  # earlier stages reported errors: part of the spec is missing
    document: dict[str, Any] = field(default_factory=dict)  # as rendered, before validation
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def report(
        self,
        severity: Severity,
        code: str,
        summary: str,
        path: Path,
        *,
        hint: str | None = None,
        detail: str = "",
        at_key: bool = False,
    ) -> None:
        location = self.smap.key(path) if at_key else self.smap.value(path)
        self.diagnostics.append(
            Diagnostic(
                severity,
                code,
                summary,
                detail=detail,
                address=address_of_path(path),
                location=location,
                hint=hint,
            )
        )

    def error(self, code: str, summary: str, path: Path, **kw: str | bool | None) -> None:
        self.report(Severity.ERROR, code, summary, path, **kw)  # type: ignore[arg-type]

    def warning(self, code: str, summary: str, path: Path, **kw: str | bool | None) -> None:
        self.report(Severity.WARNING, code, summary, path, **kw)  # type: ignore[arg-type]

    def exists(self, kind: str, name: str, names: object) -> bool:
        """True if ``name`` is defined, or was defined but failed validation (already reported)."""
        return (
            name in names  # type: ignore[operator]
            or f"{kind}.{name}" in self.broken
            or f"{kind}.*" in self.broken
        )


Check = Callable[[CheckContext], None]


def _all_checks() -> list[Check]:
    from agentform.spec.checks import (
        coordination,
        enforcement,
        filters,
        governance,
        memory,
        names,
        references,
        runaway,
    )

    return [
        *names.CHECKS,
        *references.CHECKS,
        *coordination.CHECKS,
        *governance.CHECKS,
        *memory.CHECKS,
        *filters.CHECKS,
        *runaway.CHECKS,
        *enforcement.CHECKS,
    ]


def run_checks(ctx: CheckContext) -> list[Diagnostic]:
    """Run every check against ``ctx.spec``; return all diagnostics found."""
    for check in _all_checks():
        check(ctx)
    return ctx.diagnostics
