"""The resource graph: dependencies, apply order, and its drawings (dot, mermaid, text)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentform.cli import cli
from agentform.graph import Graph, build_graph, to_dot, to_mermaid, to_text
from agentform.spec import load_spec
from tests.conftest import WriteSpec

ROOT = Path(__file__).resolve().parents[1]

SPEC = """\
version: 1
project: g
models:
  main: {provider: scripted, script: scripts/rules.yaml, fallback: [backup]}
  backup: {provider: scripted, script: scripts/rules.yaml}
tools:
  kb: {mcp: {command: [python, kb.py]}, side_effects: none}
memory:
  board: {kind: shared}
agents:
  lead: {model: main, tools: [kb], memory: [board], delegates: [worker]}
  worker: {model: backup, delegates: [lead], limits: {max_depth: 2}}
policies:
  guard: {agents: [lead], tools: [kb], effect: allow}
schedules:
  nightly: {cron: "0 2 * * *", agent: lead}
"""


def test_dependencies_and_levels(write_spec: WriteSpec) -> None:
    result = load_spec(write_spec(SPEC), environ={})
    assert result.spec is not None, result.diagnostics
    g = build_graph(result.spec)
    assert g.depends["agent.lead"] == {
        "runtime.bus",
        "runtime.store",
        "model.main",
        "tool.kb",
        "memory.board",
        "policy.guard",
    }
    assert g.depends["model.main"] == {"model.backup"}
    order = g.order()
    for address, deps in g.depends.items():
        assert all(order.index(d) < order.index(address) for d in deps), address
    assert g.levels()[-1] == ["schedule.nightly"]
    # a bounded delegation loop is a coordination edge, never an ordering constraint
    assert g.delegates == {"agent.lead": ["agent.worker"], "agent.worker": ["agent.lead"]}


def test_drawings(write_spec: WriteSpec) -> None:
    result = load_spec(write_spec(SPEC), environ={})
    assert result.spec is not None
    g = build_graph(result.spec)
    dot = to_dot(g, "coordination")
    assert 'n_agent_lead -> n_agent_worker [label="delegates"];' in dot
    assert 'n_schedule_nightly -> n_agent_lead [label="triggers"];' in dot
    assert "model" not in dot
    mermaid = to_mermaid(g)
    assert 'n_memory_board[("memory.board<br/>shared")]' in mermaid
    assert "n_agent_lead --> n_tool_kb" in mermaid


def _example(name: str) -> Graph:
    result = load_spec(ROOT / "examples" / name, environ={})
    assert result.spec is not None, result.diagnostics
    return build_graph(result.spec)


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        (
            "research-crew",
            """\
            agents (entry agents first; ─> delegates to)
              lead
              ├─> literature
              ├─> data
              ├─> legal
              └─> reviewer
                  └─> data  (see above)
            """,
        ),
        (
            "support-desk",
            """\
            agents (entry agents first; ─> delegates to)
              triage
              └─> billing
            """,
        ),
        (
            "scheduled-report",
            """\
            agents (entry agents first; ─> delegates to)
              reporter
              backlog-watch

            schedules (─> the agent each one runs)
              weekly-report  0 9 * * MON  ─> reporter
              backlog-check  every 30m    ─> backlog-watch
            """,
        ),
    ],
    ids=["research-crew", "support-desk", "scheduled-report"],
)
def test_coordination_as_text(example: str, expected: str) -> None:
    assert to_text(_example(example), "coordination") == textwrap.dedent(expected)


def test_coordination_text_marks_loops_and_schedules(write_spec: WriteSpec) -> None:
    result = load_spec(write_spec(SPEC), environ={})
    assert result.spec is not None
    # nobody is an entry (lead and worker delegate to each other): the first agent is the root
    assert to_text(build_graph(result.spec), "coordination") == textwrap.dedent(
        """\
        agents (entry agents first; ─> delegates to)
          lead
          └─> worker
              └─> lead  (loop)

        schedules (─> the agent each one runs)
          nightly  0 2 * * *  ─> lead
        """
    )


def test_resources_as_text_is_the_apply_order() -> None:
    assert to_text(_example("hello")) == (
        "  1  model.greeter-model  runtime.bus  runtime.store\n  2  agent.greeter\n"
    )


@pytest.mark.parametrize("example", ["research-crew", "support-desk"])
def test_graph_command_prints_the_coordination_text(example: str) -> None:
    result = CliRunner().invoke(
        cli,
        ["graph", str(ROOT / "examples" / example), "--view", "coordination", "--format", "text"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert result.output == to_text(_example(example), "coordination")
