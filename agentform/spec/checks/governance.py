"""Checks that what the spec declares about governance is coherent and enforceable.

Policy conditions must compile as sandboxed Jinja2 expressions over the names the runtime
provides (AF206); approval policies need approvers (AF217); unsafe tools need an approval or deny
policy (AF205); an agent may not list a tool a policy always denies it (AF208); access
permissions have the form ``verb:target`` with a known verb and a resolvable target (AF214).
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Iterable

from agentform.names import did_you_mean
from agentform.spec.checks import CheckContext
from agentform.spec.models import Policy

__all__ = ["CHECKS", "CONDITION_NAMES", "PERMISSION_VERBS", "permits", "policy_matches"]

CONDITION_NAMES = frozenset({"args", "agent", "tool", "function", "task", "subject", "context"})
PERMISSION_VERBS = {
    "invoke": "send tasks to an agent",
    "approve": "approve calls held by an approval policy",
    "read": "read tasks, traces, audit or memory",
    "cancel": "cancel tasks of an agent",
    "admin": "everything",
}
_READABLE = {"tasks", "traces", "audit", "memory", "*"}


def _is_pattern(name: str) -> bool:
    return any(c in name for c in "*?[")


def policy_matches(policy: Policy, agent: str, tool: str) -> bool:
    """Whether ``policy`` applies to ``agent`` calling ``tool`` (names, ``*`` or globs)."""
    return any(fnmatch.fnmatchcase(agent, p) for p in policy.agents) and any(
        fnmatch.fnmatchcase(tool, p) for p in policy.tools
    )


def permits(permissions: Iterable[str], verb: str, target: str) -> bool:
    """Whether ``verb:pattern`` permissions grant ``verb`` on ``target`` (a name, ``*`` or a
    glob, matched case-sensitively); ``admin`` grants every verb."""
    for permission in permissions:
        have, sep, pattern = permission.partition(":")
        if sep and have in (verb, "admin") and fnmatch.fnmatchcase(target, pattern):
            return True
    return False


@functools.lru_cache(maxsize=16384)
def _condition_problem(expr: str) -> tuple[str, str | None] | None:
    from agentform.expressions import TemplateSyntaxError, safe_environment, undeclared_names

    env = safe_environment()
    try:
        env.compile_expression(expr)
        ast = env.parse("{{ (" + expr + ") }}")
    except TemplateSyntaxError as exc:
        return f"does not parse: {exc.message}", None
    except RecursionError:  # jinja's parser recurses once per nesting level
        return "does not parse: it is nested too deeply", None
    unknown = sorted(undeclared_names(ast) - CONDITION_NAMES)
    if unknown:
        return (
            f"uses unknown name {unknown[0]!r}",
            did_you_mean(unknown[0], CONDITION_NAMES)
            or "conditions may use " + ", ".join(sorted(CONDITION_NAMES)),
        )
    return None


def check_conditions(ctx: CheckContext) -> None:
    for name, policy in ctx.spec.policies.items():
        if policy.when is None:
            continue
        problem = _condition_problem(policy.when)
        if problem:
            summary, hint = problem
            ctx.error(
                "AF206",
                f"condition of policy {name!r} {summary}",
                ("policies", name, "when"),
                hint=hint or "write a Jinja2 expression such as: args.amount > 100",
            )


def check_approvals(ctx: CheckContext) -> None:
    for name, policy in ctx.spec.policies.items():
        path = ("policies", name)
        if policy.effect == "require_approval" and not policy.approvers:
            ctx.error(
                "AF217",
                f"approval policy {name!r} names no approvers",
                path,
                at_key=True,
                hint="add approvers: [ROLE] with roles from access.roles",
            )
        elif policy.effect != "require_approval" and policy.approvers:
            ctx.warning(
                "AF210",
                f"policy {name!r} has approvers but effect {policy.effect!r}",
                (*path, "approvers"),
                hint="approvers apply only to effect: require_approval",
            )
        if policy.effect != "require_approval":
            continue
        roles = ctx.spec.access.roles
        for i, role in enumerate(policy.approvers):
            # who may decide is whoever holds approve:POLICY; an approver role without it
            # is named on the request but its members cannot decide
            if role in roles and not permits(roles[role], "approve", name):
                ctx.warning(
                    "AF217",
                    f"role {role!r} approves policy {name!r} but holds no approve:{name}, so"
                    " its members cannot decide the calls it holds",
                    (*path, "approvers", i),
                    hint=f"add 'approve:{name}' to access.roles.{role}",
                )


def check_unsafe_tools(ctx: CheckContext) -> None:
    spec = ctx.spec
    guards = [p for p in spec.policies.values() if p.effect in ("require_approval", "deny")]
    users_of: dict[str, list[str]] = {}
    for agent_name, agent in spec.agents.items():
        for tool_name in agent.tools:
            users_of.setdefault(tool_name, []).append(agent_name)
    by_tool: dict[str, list[Policy]] = {}  # guards naming a tool literally
    by_pattern: list[Policy] = []  # guards with a pattern among their tools
    for p in guards:
        if any(_is_pattern(t) for t in p.tools):
            by_pattern.append(p)
        for t in p.tools:
            if not _is_pattern(t):
                by_tool.setdefault(t, []).append(p)
    for tool_name, tool in spec.tools.items():
        if tool.side_effects != "unsafe" or tool_name not in users_of:
            continue
        mine = by_tool.get(tool_name, []) + [
            p for p in by_pattern if any(fnmatch.fnmatchcase(tool_name, t) for t in p.tools)
        ]
        if any("*" in p.agents for p in mine):
            continue
        unguarded = [
            a
            for a in users_of[tool_name]
            if not any(any(fnmatch.fnmatchcase(a, pat) for pat in p.agents) for p in mine)
        ]
        if unguarded:
            ctx.warning(
                "AF205",
                f"unsafe tool {tool_name!r} can be called by "
                f"{', '.join(unguarded[:5])}"
                f"{' and others' if len(unguarded) > 5 else ''} "
                "without approval",
                ("tools", tool_name, "side_effects"),
                hint="add a policy with effect: require_approval for this tool (a held call"
                " waits for 'agentform approvals approve'), or declare side_effects: idempotent"
                " if repeating a call is safe",
            )


def check_denied_tools(ctx: CheckContext) -> None:
    spec = ctx.spec
    denials = [(n, p) for n, p in spec.policies.items() if p.effect == "deny" and not p.when]
    if not denials:
        return
    for agent_name, agent in spec.agents.items():
        for i, tool in enumerate(agent.tools):
            for policy_name, policy in denials:
                if policy_matches(policy, agent_name, tool):
                    ctx.error(
                        "AF208",
                        f"agent {agent_name!r} lists tool {tool!r}, which policy "
                        f"{policy_name!r} always denies it",
                        ("agents", agent_name, "tools", i),
                        hint="remove the tool from the agent, or narrow the policy",
                    )
                    break


def check_permissions(ctx: CheckContext) -> None:
    spec = ctx.spec
    for role, permissions in spec.access.roles.items():
        for i, permission in enumerate(permissions):
            path = ("access", "roles", role, i)
            verb, sep, target = permission.partition(":")
            if not sep or not target:
                words = permission.replace("=", " ").split()
                meant = f"{words[0]}:{words[1]}" if len(words) == 2 else None
                ctx.error(
                    "AF214",
                    f"permission {permission!r} of role {role!r} is not verb:target",
                    path,
                    hint=f"did you mean {meant!r}?"
                    if meant and words[0] in PERMISSION_VERBS
                    else "for example invoke:triage, approve:refund-approval, read:traces",
                )
                continue
            if verb not in PERMISSION_VERBS:
                ctx.error(
                    "AF214",
                    f"unknown permission verb {verb!r} in role {role!r}",
                    path,
                    hint=did_you_mean(verb, PERMISSION_VERBS, "verb"),
                )
                continue
            if target == "*" or any(c in target for c in "*?["):
                continue
            if verb in ("invoke", "cancel") and not ctx.exists("agent", target, spec.agents):
                ctx.error(
                    "AF201",
                    f"role {role!r} may {verb} unknown agent {target!r}",
                    path,
                    hint=did_you_mean(target, spec.agents, "agent"),
                )
            elif verb == "approve":
                policy = spec.policies.get(target)
                if policy is None and not ctx.exists("policy", target, spec.policies):
                    ctx.error(
                        "AF201",
                        f"role {role!r} may approve unknown policy {target!r}",
                        path,
                        hint=did_you_mean(target, spec.policies, "policy"),
                    )
                elif policy is not None and policy.effect != "require_approval":
                    ctx.warning(
                        "AF214",
                        f"role {role!r} may approve policy {target!r}, which "
                        "never asks for approval",
                        path,
                    )
            elif verb == "read" and target not in _READABLE:
                ctx.error(
                    "AF214",
                    f"role {role!r} may read unknown resource {target!r}",
                    path,
                    hint=did_you_mean(target, _READABLE - {"*"}, "readable resource"),
                )


CHECKS = [
    check_conditions,
    check_approvals,
    check_unsafe_tools,
    check_denied_tools,
    check_permissions,
]
