"""Every name the spec uses must resolve to something it defines (AF201), with a suggestion.

Covers an agent's model, tools, memory, delegates and content filters; model fallbacks; schedules'
agents; policies' agents, tools (literal names, ``*`` or glob patterns) and approvers; and the roles
of access members. Names of resources that failed schema validation count as defined, so one mistake
is not reported twice.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Collection

from agentform.addresses import Address
from agentform.names import did_you_mean
from agentform.spec.checks import CheckContext
from agentform.spec.sourcemap import Path

__all__ = ["CHECKS", "is_pattern"]

_GLOB = set("*?[")
_SECTION = {
    "agent": "agents",
    "tool": "tools",
    "model": "models",
    "memory": "memory",
    "filter": "filters",
}


def is_pattern(name: str) -> bool:
    return bool(_GLOB & set(name))


def _resolve(
    ctx: CheckContext, kind: str, name: str, names: Collection[str], path: Path, user: str
) -> None:
    if ctx.exists(kind, name, names):
        return
    where = "access.roles" if kind == "role" else _SECTION[kind]
    # suggest names that failed validation too: they are defined, just not valid yet
    defined = {*names, *(Address.name_of(b) for b in ctx.broken if b.startswith(f"{kind}."))}
    ctx.error(
        "AF201",
        f"{user} refers to unknown {kind} {name!r}",
        path,
        hint=did_you_mean(name, defined, kind) or f"define it under '{where}:'",
    )


def check_agent_references(ctx: CheckContext) -> None:
    spec = ctx.spec
    for name, agent in spec.agents.items():
        base = ("agents", name)
        user = f"agent {name!r}"
        _resolve(ctx, "model", agent.model, spec.models, (*base, "model"), user)
        for i, tool in enumerate(agent.tools):
            _resolve(ctx, "tool", tool, spec.tools, (*base, "tools", i), user)
        for i, store in enumerate(agent.memory):
            _resolve(ctx, "memory", store, spec.memory, (*base, "memory", i), user)
        for i, other in enumerate(agent.delegates):
            _resolve(ctx, "agent", other, spec.agents, (*base, "delegates", i), user)
        for i, content_filter in enumerate(agent.filters):
            _resolve(ctx, "filter", content_filter, spec.filters, (*base, "filters", i), user)


def check_model_references(ctx: CheckContext) -> None:
    for name, model in ctx.spec.models.items():
        for i, other in enumerate(model.fallback):
            _resolve(
                ctx,
                "model",
                other,
                ctx.spec.models,
                ("models", name, "fallback", i),
                f"model {name!r}",
            )


def check_schedule_references(ctx: CheckContext) -> None:
    for name, schedule in ctx.spec.schedules.items():
        _resolve(
            ctx,
            "agent",
            schedule.agent,
            ctx.spec.agents,
            ("schedules", name, "agent"),
            f"schedule {name!r}",
        )


def _patterns(
    ctx: CheckContext,
    kind: str,
    entries: list[str],
    names: Collection[str],
    path: Path,
    user: str,
    *,
    index: bool = True,
) -> None:
    """Each entry (a name, ``*`` or a glob) must name or match a ``kind``; ``index``: ``path``
    is the list's, else the one entry's own."""
    for i, entry in enumerate(entries):
        where = (*path, i) if index else path
        if entry == "*":
            continue
        if is_pattern(entry):
            if not any(fnmatch.fnmatchcase(n, entry) for n in names):
                ctx.warning(
                    "AF201",
                    f"{user}: pattern {entry!r} matches no {kind}",
                    where,
                    hint="check the pattern; it has no effect as written",
                )
            continue
        _resolve(ctx, kind, entry, names, where, user)


def check_policy_references(ctx: CheckContext) -> None:
    spec = ctx.spec
    for name, policy in spec.policies.items():
        base = ("policies", name)
        user = f"policy {name!r}"
        _patterns(ctx, "agent", policy.agents, spec.agents, (*base, "agents"), user)
        for i, entry in enumerate(policy.tools):
            # agent.NAME: a delegation to NAME; memory.STORE: a memory tool of STORE
            section, dot, rest = entry.partition(".")
            if dot and section in ("agent", "memory"):
                names = spec.agents if section == "agent" else spec.memory
                _patterns(ctx, section, [rest], names, (*base, "tools", i), user, index=False)
            else:
                _patterns(ctx, "tool", [entry], spec.tools, (*base, "tools", i), user, index=False)
        for i, role in enumerate(policy.approvers):
            _resolve(ctx, "role", role, spec.access.roles, (*base, "approvers", i), user)


def check_access_references(ctx: CheckContext) -> None:
    roles = ctx.spec.access.roles
    for subject, assigned in ctx.spec.access.members.items():
        for i, role in enumerate(assigned):
            _resolve(
                ctx, "role", role, roles, ("access", "members", subject, i), f"member {subject!r}"
            )


def check_broken_references(ctx: CheckContext) -> None:
    """References inside agents and schedules that failed validation are still checked, from
    the document as written, so one run reports both the bad field and the bad reference."""
    spec, raw = ctx.spec, ctx.document
    fields = (
        ("model", "model", spec.models),
        ("tools", "tool", spec.tools),
        ("memory", "memory", spec.memory),
        ("delegates", "agent", spec.agents),
        ("filters", "filter", spec.filters),
    )
    for address in sorted(ctx.broken):
        kind, name = Address.parts(address)
        section = {"agent": "agents", "schedule": "schedules"}.get(kind)
        body = raw.get(section, {}).get(name) if section else None
        if not isinstance(body, dict):
            continue
        user = f"{kind} {name!r}"
        if kind == "schedule":
            if isinstance(body.get("agent"), str):
                _resolve(
                    ctx, "agent", body["agent"], spec.agents, ("schedules", name, "agent"), user
                )
            continue
        for key, ref_kind, names in fields:
            value = body.get(key)
            if isinstance(value, str) and key == "model":
                _resolve(ctx, ref_kind, value, names, ("agents", name, key), user)
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, str):
                        _resolve(ctx, ref_kind, item, names, ("agents", name, key, i), user)


CHECKS = [
    check_broken_references,
    check_agent_references,
    check_model_references,
    check_schedule_references,
    check_policy_references,
    check_access_references,
]
