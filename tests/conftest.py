"""Shared fixtures: write spec files into a temporary project and load them."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

BASE_SPEC = """\
version: 1
project: demo
models:
  fast: {provider: scripted, script: scripts/rules.yaml}
tools:
  kb: {mcp: {command: [python, kb.py]}, side_effects: none}
memory:
  notes: {kind: session, ttl: 1d}
agents:
  triage:
    model: fast
    instructions: "Help {{ customer }}"
    tools: [kb]
    memory: [notes]
access:
  roles:
    users: ["invoke:triage"]
"""

WriteSpec = Callable[..., Path]


@pytest.fixture
def write_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WriteSpec:
    """Write ``files`` (name → YAML text, dedented) into tmp_path; return the main file."""

    monkeypatch.chdir(tmp_path)

    def write(main: str = BASE_SPEC, name: str = "agentform.yaml", **files: str) -> Path:
        (tmp_path / "scripts").mkdir(exist_ok=True)
        (tmp_path / "scripts" / "rules.yaml").write_text("rules: [{reply: hi}]\n")
        for fname, text in {name: main, **files}.items():
            path = tmp_path / fname.replace("__", "/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        return tmp_path / name

    return write
