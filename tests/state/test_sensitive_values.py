"""A sensitive variable's value never reaches state, on either backend: every row an apply
writes holds the reference and a fingerprint, and a new value writes a new fingerprint only."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import create_engine, select

from agentform.state.tables import resource_table, state_table
from agentform.testing import FakeProvider
from agentform.workflow import carry_out, prepare_plan

VALUE = "s3cr3t-VALUE-42"
OTHER = "0ther-VALUE-7"


def _spec(directory: Path, project: str) -> Path:
    (directory / "scripts").mkdir(parents=True)
    (directory / "scripts" / "rules.yaml").write_text("rules: [{reply: hi}]\n")
    (directory / "agentform.yaml").write_text(
        f"version: 1\nproject: {project}\n"
        f"variables:\n  pin: {{default: {VALUE}, sensitive: true}}\n"
        "models:\n  fast: {provider: scripted, script: scripts/rules.yaml}\n"
        "tools:\n  kb: {mcp: {command: [python, kb.py], env: {PIN: '${var.pin}'}}}\n"
        "agents:\n  triage: {model: fast, tools: [kb], instructions: 'PIN ${var.pin}'}\n"
    )
    return directory


def _rows(state_url: str, project: str) -> str:
    engine = create_engine(state_url)
    try:
        with engine.connect() as conn:
            rows = [
                *conn.execute(select(state_table).where(state_table.c.project == project)),
                *conn.execute(select(resource_table).where(resource_table.c.project == project)),
            ]
    finally:
        engine.dispose()
    return "\n".join(map(str, rows))


def test_state_holds_references_and_fingerprints_never_the_value(
    state_url: str, tmp_path: Path
) -> None:
    project = f"sens-{uuid.uuid4().hex[:8]}"  # the PostgreSQL database is shared by the session
    spec = _spec(tmp_path / "spec", project)
    provider = FakeProvider()
    for variables in ({}, {"pin": OTHER}):
        prepared = prepare_plan(
            spec, variables=variables, state_url=state_url, provider=provider, environ={}
        )
        assert prepared.plan.has_changes
        assert carry_out(prepared).ok
    written = _rows(state_url, project)
    assert written.count("pbkdf2-sha256:") >= 4  # agent and tool, at both values
    assert "${var.pin}" in written
    assert VALUE not in written and OTHER not in written
    if state_url.startswith("sqlite:///"):
        database = Path(state_url.removeprefix("sqlite:///"))
        for path in database.parent.glob(database.name + "*"):  # the -wal file too
            assert VALUE.encode() not in path.read_bytes()
