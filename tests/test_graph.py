"""The resource graph: dependencies, apply order, and both drawings."""

from __future__ import annotations

from agentform.graph import build_graph, to_dot, to_mermaid
from agentform.spec import load_spec
from tests.conftest import WriteSpec

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
