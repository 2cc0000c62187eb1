"""Saved plans and ``--json``: exact round trip, schema freshness, clear errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from agentform.planfile import PlanFileError, dumps, loads, plan_schema
from tests.test_render import PLAN

ROOT = Path(__file__).resolve().parents[1]


def test_round_trip_is_exact() -> None:
    assert loads(dumps(PLAN)) == PLAN


def test_document_validates_against_committed_schema() -> None:
    schema = json.loads((ROOT / "schemas" / "plan.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(json.loads(dumps(PLAN)))
    assert json.loads(dumps(PLAN))["summary"] == {"add": 1, "change": 1, "replace": 1, "destroy": 1}


def test_committed_schema_is_fresh() -> None:
    assert (ROOT / "schemas" / "plan.schema.json").read_text() == plan_schema()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "is not JSON (line 1, column 2"),
        ('{"format_version": 9}', "has plan format 9; this agentform reads format 1"),
        ('{"format_version": 1, "project": "p"}', "is not a valid plan (environment: Field"),
        ("[]", "is not a valid plan ((top level)"),
    ],
    ids=["not-json", "future-format", "missing-field", "not-an-object"],
)
def test_bad_plan_files(text: str, message: str) -> None:
    with pytest.raises(PlanFileError) as exc:
        loads(text, source="plan.json")
    assert str(exc.value).startswith("plan.json ")
    assert message in str(exc.value)
