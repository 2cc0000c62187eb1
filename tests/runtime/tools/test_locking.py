"""Tool calls under a lock, on a real engine: calls that name the same lock never overlap,
across replicas, while calls naming different locks run side by side."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime.project import Project, open_project

# an MCP server whose tool records when each call starts and ends, per item
SPANS_SERVER = '''
import asyncio, json, os, time
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("spans")

@mcp.tool()
async def touch(item: str) -> str:
    """Hold the item for a moment; the spans file shows who held what when."""
    start = time.time()
    await asyncio.sleep(0.3)
    with open(os.environ["SPANS_FILE"], "a") as out:
        out.write(json.dumps({"item": item, "start": start, "end": time.time()}) + "\\n")
    return "touched " + item

mcp.run()
'''


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    directory = tmp_path_factory.mktemp("locked")
    with open_project(directory) as project:
        spec = {
            "models": {"m": {"provider": "scripted", "script": "scripts/m.yaml"}},
            "tools": {
                "spans": {
                    "mcp": {
                        "command": ["python", "spans.py"],
                        "env": {"SPANS_FILE": str(directory / "spans.jsonl")},
                    },
                    "side_effects": "idempotent",
                    "lock": "item-{{ arguments.item }}",
                    "timeout": "30s",
                }
            },
            "agents": {
                "toucher": {
                    "model": "m",
                    "instructions": "Touch.",
                    "tools": ["spans"],
                    "replicas": 2,
                }
            },
            "access": {"roles": {"users": ["invoke:toucher"]}, "members": {"t": ["users"]}},
        }
        scripts = {
            "m": [
                {"match": {"tool_result": "touched"}, "reply": "{{ tool_result }}"},
                {"call": {"tool": "touch", "arguments": {"item": "{{ user }}"}}},
            ]
        }
        project.write(spec, scripts)
        (directory / "spans.py").write_text(SPANS_SERVER)
        project.apply()
        project.wait_ready("toucher", 2)
        yield project


def _spans(directory: Path) -> list[dict[str, float | str]]:
    lines = (directory / "spans.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_calls_naming_one_lock_take_turns_and_others_run_in_parallel(locked: Project) -> None:
    items = ["a"] * 6 + ["b"] * 2
    started = time.monotonic()
    ids = [locked.submit("toucher", item)["id"] for item in items]
    results = [locked.wait_task(i, timeout=60) for i in ids]
    assert all(r["status"] == "completed" for r in results), results
    spans = _spans(locked.dir)
    assert len(spans) == len(items)
    for item in ("a", "b"):
        held = sorted((float(s["start"]), float(s["end"])) for s in spans if s["item"] == item)
        for (_, end), (start, _) in itertools.pairwise(held):
            assert start >= end, f"two calls held lock item-{item} at once: {held}"
    # a and b did overlap: different locks do not wait for each other
    a_spans = [s for s in spans if s["item"] == "a"]
    b_spans = [s for s in spans if s["item"] == "b"]
    assert any(
        float(b["start"]) < float(a["end"]) and float(a["start"]) < float(b["end"])
        for a in a_spans
        for b in b_spans
    )
    assert time.monotonic() - started < 30
