"""Checks on how agents reach each other: delegation cycles (AF203), model fallback loops
(AF216), agents nobody can reach (AF204) and definitions nobody uses (AF215)."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence

from agentform.spec.checks import CheckContext

__all__ = ["CHECKS", "find_cycles"]


def find_cycles(edges: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Every elementary loop once, each as the path that closes it (``[a, b, a]``).

    Iterative DFS so a 10,000-agent chain cannot overflow the stack; a loop is reported from
    its smallest name so the same loop found from two starting points is reported once.
    """
    seen_loops: set[tuple[str, ...]] = set()
    out: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in sorted(edges):
        if root in state:
            continue
        path: list[str] = []
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, i = stack.pop()
            if i == 0:
                state[node] = 1
                path.append(node)
            children = [c for c in edges.get(node, ()) if c in edges]
            if i < len(children):
                stack.append((node, i + 1))
                child = children[i]
                if state.get(child) == 1:
                    loop = path[path.index(child) :]
                    start = loop.index(min(loop))
                    canon = tuple(loop[start:] + loop[:start])
                    if canon not in seen_loops:
                        seen_loops.add(canon)
                        out.append([*canon, canon[0]])
                elif child not in state:
                    stack.append((child, 0))
            else:
                state[node] = 2
                path.pop()
    return out


def check_delegation_cycles(ctx: CheckContext) -> None:
    agents = ctx.spec.agents
    edges = {name: agent.delegates for name, agent in agents.items()}
    for loop in find_cycles(edges):
        if any(agents[a].limits.max_depth for a in loop[:-1]):
            continue  # a bounded loop is allowed: the runtime stops the chain at max_depth
        first = loop[0]
        index = agents[first].delegates.index(loop[1])
        ctx.error(
            "AF203",
            f"delegation cycle: {' -> '.join(loop)}",
            ("agents", first, "delegates", index),
            hint="remove one delegation in the loop, or set limits.max_depth on an agent "
            "in it to bound the recursion",
        )


def check_fallback_cycles(ctx: CheckContext) -> None:
    models = ctx.spec.models
    edges = {name: model.fallback for name, model in models.items()}
    for loop in find_cycles(edges):
        first = loop[0]
        ctx.error(
            "AF216",
            f"model fallback loop: {' -> '.join(loop)}",
            ("models", first, "fallback", models[first].fallback.index(loop[1])),
            hint="a fallback chain must end; remove one of the entries",
        )


def _invocable(ctx: CheckContext) -> tuple[bool, set[str]]:
    everyone = False
    named: set[str] = set()
    for permissions in ctx.spec.access.roles.values():
        for permission in permissions:
            verb, _, target = permission.partition(":")
            if verb in ("invoke", "admin"):
                if target in ("*", ""):
                    everyone = True
                elif any(c in target for c in "*?["):
                    named.update(fnmatch.filter(ctx.spec.agents, target))
                else:
                    named.add(target)
    return everyone, named


def _agents_broken(ctx: CheckContext) -> bool:
    """With an agent that failed validation, or files that did not load, who uses what is
    unknown: usage warnings would be noise on top of the real error."""
    return ctx.incomplete or any(b.startswith(("agent.", "schedule.", "role.")) for b in ctx.broken)


def check_reachability(ctx: CheckContext) -> None:
    """Agents reached from an entry point (a role that may invoke it, a schedule) along
    delegation edges; a loop of agents delegating to each other is not an entry point."""
    spec = ctx.spec
    if _agents_broken(ctx):
        return
    everyone, named = _invocable(ctx)
    if everyone:
        return
    frontier = [
        a for a in (*named, *(s.agent for s in spec.schedules.values())) if a in spec.agents
    ]
    reached = set(frontier)
    while frontier:
        for other in spec.agents[frontier.pop()].delegates:
            if other in spec.agents and other not in reached:
                reached.add(other)
                frontier.append(other)
    for name in spec.agents:
        if name not in reached:
            ctx.warning(
                "AF204",
                f"agent {name!r} cannot be reached",
                ("agents", name),
                at_key=True,
                hint="no schedule, access role (invoke:"
                f"{name}) or agent reachable from one sends it work; add one or "
                "remove the agent",
            )


def check_unused(ctx: CheckContext) -> None:
    spec = ctx.spec
    # with an unresolved reference the "unused" thing is most likely the one meant: say it once
    if _agents_broken(ctx) or any(d.code == "AF201" for d in ctx.diagnostics):
        return
    used_models = {a.model for a in spec.agents.values()}
    used_models.update(f for m in spec.models.values() for f in m.fallback)
    used_tools = {t for a in spec.agents.values() for t in a.tools}
    used_memory = {m for a in spec.agents.values() for m in a.memory}
    used_filters = {f for a in spec.agents.values() for f in a.filters}
    for section, used, what in (
        ("models", used_models, "model"),
        ("tools", used_tools, "tool"),
        ("memory", used_memory, "memory store"),
        ("filters", used_filters, "filter"),
    ):
        for name in getattr(spec, section):
            if name not in used:
                ctx.warning(
                    "AF215",
                    f"{what} {name!r} is defined but no agent uses it",
                    (section, name),
                    at_key=True,
                    hint="use it from an agent, or remove it",
                )


CHECKS = [check_delegation_cycles, check_fallback_cycles, check_reachability, check_unused]
