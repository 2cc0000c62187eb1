"""The resource graph: addressed resources derived from a spec, and the edges between them.

Two kinds of edge: *dependencies* (``agent.triage`` needs ``model.fast``, ``tool.kb``,
``memory.board``, the policies that govern it, the content filters it lists and the runtime's bus
and store; a schedule needs
its agent), which order apply and destroy, and *delegations* (``agent.triage`` may hand work to
``agent.billing``), which are the coordination graph and may loop when bounded by ``max_depth``.
:meth:`Graph.levels` gives parallel levels in dependency order (graphlib). :func:`to_dot`,
:func:`to_mermaid` and :func:`to_text` (for a terminal) draw either view. Pure; called by
``agentform graph`` and (later) the planner.
"""

from __future__ import annotations

import fnmatch
import graphlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from agentform.durations import format_duration
from agentform.spec.models import Spec

__all__ = ["Graph", "Resource", "build_graph", "to_dot", "to_mermaid", "to_text"]

View = Literal["resources", "coordination"]
BUS = "runtime.bus"
STORE = "runtime.store"


@dataclass(frozen=True, slots=True)
class Resource:
    address: str
    kind: str
    name: str
    label: str = ""


@dataclass
class Graph:
    resources: dict[str, Resource] = field(default_factory=dict)
    depends: dict[str, set[str]] = field(default_factory=dict)
    delegates: dict[str, list[str]] = field(default_factory=dict)
    schedules: dict[str, str] = field(default_factory=dict)

    def add(self, kind: str, name: str, label: str = "") -> str:
        address = f"{kind}.{name}"
        self.resources[address] = Resource(address, kind, name, label)
        self.depends.setdefault(address, set())
        return address

    def need(self, address: str, *dependencies: str) -> None:
        self.depends[address].update(d for d in dependencies if d in self.resources)

    def levels(self) -> list[list[str]]:
        """Addresses grouped so every resource comes after everything it depends on."""
        sorter = graphlib.TopologicalSorter(self.depends)
        sorter.prepare()
        out: list[list[str]] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            out.append(ready)
            sorter.done(*ready)
        return out

    def order(self) -> list[str]:
        return [address for level in self.levels() for address in level]


def _matches(patterns: Iterable[str], name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def build_graph(spec: Spec) -> Graph:
    """Derive resources and edges from a checked spec (references are assumed to resolve)."""
    g = Graph()
    g.add("runtime", "bus", spec.runtime.bus.url)
    g.add("runtime", "store", spec.runtime.store.url.split("://", 1)[0])
    for name, model in spec.models.items():
        g.add("model", name, model.provider)
    for name, model in spec.models.items():
        g.need(f"model.{name}", *(f"model.{f}" for f in model.fallback))
    for name, tool in spec.tools.items():
        g.add("tool", name, tool.side_effects)
    for name, memory in spec.memory.items():
        g.need(g.add("memory", name, memory.kind), STORE)
    for name, policy in spec.policies.items():
        g.add("policy", name, policy.effect)
    for name, content_filter in spec.filters.items():
        g.add("filter", name, content_filter.action)
    for name, agent in spec.agents.items():
        address = g.add("agent", name, f"x{agent.replicas}")
        g.need(address, BUS, STORE, f"model.{agent.model}")
        g.need(address, *(f"tool.{t}" for t in agent.tools))
        g.need(address, *(f"memory.{m}" for m in agent.memory))
        g.need(address, *(f"filter.{f}" for f in agent.filters))
        g.need(
            address,
            *(f"policy.{p}" for p, pol in spec.policies.items() if _matches(pol.agents, name)),
        )
        g.delegates[address] = [f"agent.{d}" for d in agent.delegates]
    for name, schedule in spec.schedules.items():
        when = schedule.cron or (
            f"every {format_duration(schedule.interval)}" if schedule.interval else "every interval"
        )
        address = g.add("schedule", name, when)
        g.need(address, f"agent.{schedule.agent}")
        g.schedules[address] = f"agent.{schedule.agent}"
    return g


def _id(address: str) -> str:
    return "n_" + "".join(c if c.isalnum() else "_" for c in address)


def _edges(g: Graph, view: View) -> list[tuple[str, str, str]]:
    if view == "coordination":
        edges = [(a, d, "delegates") for a, ds in g.delegates.items() for d in ds]
        edges += [(s, a, "triggers") for s, a in g.schedules.items()]
        return sorted(edges)
    return sorted((a, d, "") for a, deps in g.depends.items() for d in deps)


def _nodes(g: Graph, view: View) -> list[Resource]:
    kinds = ("agent", "schedule") if view == "coordination" else None
    return [r for r in g.resources.values() if kinds is None or r.kind in kinds]


_SHAPES = {
    "agent": "box",
    "model": "ellipse",
    "tool": "component",
    "memory": "cylinder",
    "policy": "octagon",
    "filter": "hexagon",
    "schedule": "note",
    "runtime": "box3d",
}


def to_dot(g: Graph, view: View = "resources") -> str:
    lines = [f'digraph "{view}" {{', "  rankdir=LR;", '  node [fontname="Helvetica"];']
    for r in _nodes(g, view):
        label = f"{r.address}\\n{r.label}" if r.label else r.address
        lines.append(f'  {_id(r.address)} [label="{label}", shape={_SHAPES[r.kind]}];')
    for a, b, label in _edges(g, view):
        attr = f' [label="{label}"]' if label else ""
        lines.append(f"  {_id(a)} -> {_id(b)}{attr};")
    lines.append("}")
    return "\n".join(lines) + "\n"


_MERMAID = {
    "agent": ('["', '"]'),
    "model": ('("', '")'),
    "tool": ('[["', '"]]'),
    "memory": ('[("', '")]'),
    "policy": ('{{"', '"}}'),
    "filter": ('[/"', '"\\]'),
    "schedule": ('>"', '"]'),
    "runtime": ('[/"', '"/]'),
}


def to_mermaid(g: Graph, view: View = "resources") -> str:
    lines = ["flowchart LR"]
    for r in _nodes(g, view):
        left, right = _MERMAID[r.kind]
        text = f"{r.address}<br/>{r.label}" if r.label else r.address
        lines.append(f"  {_id(r.address)}{left}{text}{right}")
    for a, b, label in _edges(g, view):
        arrow = f" -->|{label}| " if label else " --> "
        lines.append(f"  {_id(a)}{arrow}{_id(b)}")
    return "\n".join(lines) + "\n"


def _entries(g: Graph) -> list[str]:
    """Agents in spec order, those nobody delegates to first."""
    agents = [r.address for r in g.resources.values() if r.kind == "agent"]
    delegated = {d for ds in g.delegates.values() for d in ds}
    return [a for a in agents if a not in delegated] + [a for a in agents if a in delegated]


def _delegation_tree(g: Graph) -> list[str]:
    lines: list[str] = []
    drawn: set[str] = set()

    def draw(address: str, prefix: str, branch: str, path: tuple[str, ...]) -> None:
        name = g.resources[address].name
        if address in path:
            lines.append(f"{prefix}{branch}{name}  (loop)")
            return
        if address in drawn:
            lines.append(f"{prefix}{branch}{name}  (see above)")
            return
        drawn.add(address)
        lines.append(f"{prefix}{branch}{name}")
        below = prefix + ("" if not branch else "│   " if branch.startswith("├") else "    ")
        children = g.delegates.get(address, [])
        for i, child in enumerate(children):
            last = i == len(children) - 1
            draw(child, below, "└─> " if last else "├─> ", (*path, address))

    for address in _entries(g):
        if address not in drawn:
            draw(address, "", "", ())
    return lines


def _coordination_text(g: Graph) -> str:
    lines = ["agents (entry agents first; ─> delegates to)"]
    tree = _delegation_tree(g)
    lines += [f"  {line}" for line in tree] or ["  (none)"]
    schedules = [r for r in g.resources.values() if r.kind == "schedule"]
    if schedules:
        lines += ["", "schedules (─> the agent each one runs)"]
        name_width = max(len(r.name) for r in schedules)
        when_width = max(len(r.label) for r in schedules)
        for r in schedules:
            agent = g.resources[g.schedules[r.address]].name
            lines.append(f"  {r.name:<{name_width}}  {r.label:<{when_width}}  ─> {agent}")
    return "\n".join(lines) + "\n"


def to_text(g: Graph, view: View = "resources") -> str:
    """The graph for a terminal. resources: the apply order, one numbered level a line (each
    level's resources can be applied at once); coordination: a tree of who delegates to whom
    from the entry agents (the ones nobody delegates to), an agent drawn once and then named
    as "(see above)", a delegation back up the path as "(loop)"; then each schedule, when it
    runs and the agent it sends its task to."""
    if view == "coordination":
        return _coordination_text(g)
    return "".join(f"{i:>3}  {'  '.join(level)}\n" for i, level in enumerate(g.levels(), 1))
