"""The committed JSON Schema is fresh, and every example validates against it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from agentform.spec import read_spec
from agentform.spec.schema import SCHEMA_PATH, build_schema, render_schema

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if (p / "agentform.yaml").is_file())
SPEC_FILES = sorted(
    f for e in EXAMPLES for f in e.rglob("*.yaml") if "scripts" not in f.relative_to(e).parts
)


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((ROOT / SCHEMA_PATH).read_text())
    return jsonschema.Draft202012Validator(schema)


def test_committed_schema_is_fresh() -> None:
    committed = (ROOT / SCHEMA_PATH).read_text()
    assert committed == render_schema(), "run: agentform schema --write"


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(build_schema())


@pytest.mark.parametrize("path", SPEC_FILES, ids=[str(p.relative_to(ROOT)) for p in SPEC_FILES])
def test_example_files_validate_against_committed_schema(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema="), "editors need the modeline"
    target = (path.parent / first.split("$schema=", 1)[1]).resolve()
    assert target == (ROOT / SCHEMA_PATH).resolve(), "the modeline must point at the schema"
    errors = list(validator().iter_errors(yaml.safe_load(path.read_text())))
    assert errors == []


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_merged_examples_validate_against_committed_schema(example: Path) -> None:
    raw = read_spec(example)
    assert raw.document is not None
    assert list(validator().iter_errors(raw.document)) == []


@pytest.mark.parametrize(
    ("document", "valid"),
    [
        ({"version": 1, "project": "x"}, True),
        ({"agents": {"a": {"model": "m", "replicas": "${var.replicas}"}}}, True),
        ({"agents": {"a": {"model": "m", "replicas": "three"}}}, False),
        ({"agents": {"a": {"model": "m", "toolz": []}}}, False),
        ({"tools": {"t": {"mcp": {"command": ["x"], "url": "http://y"}}}}, False),
        ({"memory": {"m": {"kind": "session", "ttl": "5 minutes"}}}, False),
    ],
    ids=["minimal", "interpolated-int", "bad-int", "unknown-key", "mcp-both", "bad-duration"],
)
def test_schema_rules(document: dict[str, object], valid: bool) -> None:
    assert validator().is_valid(document) is valid
