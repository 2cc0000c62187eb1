"""Plans as JSON: ``plan --json`` output and saved plan files (``plan -out FILE``).

The document is described by pydantic models here (:class:`PlanDocument`), from which
``schemas/plan.schema.json`` is generated and committed (a test fails when it is stale). A saved
plan records the state lineage and serial it was computed against, so ``apply FILE`` can refuse a
plan that the state has moved past. :func:`dumps` / :func:`loads` round-trip a
:class:`~agentform.plan.Plan` exactly; :func:`loads` turns every kind of bad file into one
:class:`PlanFileError` sentence. Pure; called by the CLI.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentform.plan import Action, Change, Drift, Plan, Risk

__all__ = ["FORMAT_VERSION", "PlanDocument", "PlanFileError", "dumps", "loads", "plan_schema"]

FORMAT_VERSION: Literal[1] = 1


class PlanFileError(ValueError):
    """A saved plan cannot be read; the message says why and what to do."""


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RiskDocument(_Doc):
    level: Literal["low", "medium", "high"]
    message: str


class ChangeDocument(_Doc):
    address: str
    action: Literal["create", "update", "replace", "delete", "no-op"]
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    changed: list[str] = Field(default_factory=list)
    replace_fields: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    risks: list[RiskDocument] = Field(default_factory=list)
    id: str | None = None
    waits_for: list[str] = Field(default_factory=list)


class DriftDocument(_Doc):
    address: str
    fields: list[str]
    recorded: dict[str, Any]
    observed: dict[str, Any] | None


class Summary(_Doc):
    add: int
    change: int
    replace: int
    destroy: int


class PlanDocument(_Doc):
    """A plan as written by ``agentform plan --json`` and ``plan -out FILE``."""

    format_version: Literal[1] = FORMAT_VERSION
    project: str
    environment: str
    lineage: str | None = Field(description="State lineage the plan was made against.")
    serial: int = Field(ge=0, description="State serial the plan was made against.")
    refresh_only: bool = False
    has_changes: bool
    summary: Summary
    changes: list[ChangeDocument]
    drift: list[DriftDocument]


def _document(plan: Plan) -> PlanDocument:
    return PlanDocument(
        project=plan.project,
        environment=plan.environment,
        lineage=plan.lineage,
        serial=plan.serial,
        refresh_only=plan.refresh_only,
        has_changes=plan.has_changes,
        summary=Summary(
            add=plan.count(Action.CREATE),
            change=plan.count(Action.UPDATE),
            replace=plan.count(Action.REPLACE),
            destroy=plan.count(Action.DELETE),
        ),
        changes=[
            ChangeDocument(
                address=c.address,
                action=c.action.value,
                before=dict(c.before) if c.before is not None else None,
                after=dict(c.after) if c.after is not None else None,
                changed=list(c.changed),
                replace_fields=list(c.replace_fields),
                reasons=list(c.reasons),
                risks=[RiskDocument(level=r.level, message=r.message) for r in c.risks],
                id=c.id,
                waits_for=list(c.waits_for),
            )
            for c in plan.changes
        ],
        drift=[
            DriftDocument(
                address=d.address,
                fields=list(d.fields),
                recorded=dict(d.recorded),
                observed=dict(d.observed) if d.observed is not None else None,
            )
            for d in plan.drift
        ],
    )


def dumps(plan: Plan) -> str:
    """The plan as an indented JSON document (``plan --json``, ``plan -out FILE``)."""
    return _document(plan).model_dump_json(indent=2) + "\n"


def loads(text: str, *, source: str = "the plan file") -> Plan:
    """Read a plan written by :func:`dumps`; raise :class:`PlanFileError` if it is not one."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanFileError(
            f"{source} is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            'save a plan with "agentform plan -out FILE"'
        ) from None
    if isinstance(raw, dict) and raw.get("format_version") not in (None, FORMAT_VERSION):
        raise PlanFileError(
            f"{source} has plan format {raw.get('format_version')!r}; this agentform reads "
            f"format {FORMAT_VERSION}: make the plan again with this version"
        )
    try:
        doc = PlanDocument.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise PlanFileError(
            f"{source} is not a valid plan ({where}: {first['msg']}); "
            'save a plan with "agentform plan -out FILE"'
        ) from None
    return Plan(
        project=doc.project,
        environment=doc.environment,
        lineage=doc.lineage,
        serial=doc.serial,
        refresh_only=doc.refresh_only,
        changes=tuple(
            Change(
                address=c.address,
                action=Action(c.action),
                before=c.before,
                after=c.after,
                changed=tuple(c.changed),
                replace_fields=tuple(c.replace_fields),
                reasons=tuple(c.reasons),
                risks=tuple(Risk(r.level, r.message) for r in c.risks),
                id=c.id,
                waits_for=tuple(c.waits_for),
            )
            for c in doc.changes
        ),
        drift=tuple(Drift(d.address, tuple(d.fields), d.recorded, d.observed) for d in doc.drift),
    )


def plan_schema() -> str:
    """The JSON Schema of :class:`PlanDocument`, as committed in ``schemas/plan.schema.json``."""
    body = PlanDocument.model_json_schema()
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://agentform.dev/schemas/plan.schema.json",
        **body,
    }
    return json.dumps(schema, indent=2) + "\n"
