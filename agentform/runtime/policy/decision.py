"""The policy decision point: whether one agent may make one tool call, and which policies say so.

:class:`PolicyDecisionPoint` is built per worker from the agent's governing policies (the
contract's :class:`~agentform.contract.PolicyValue`, resolved by planning: only policies whose
``agents`` match this agent reach it) and asked once per tool call by the agent loop
(:mod:`agentform.runtime.worker.loop`), after the model asked for the call and before anything
is sent. A policy applies when one of its ``tools`` patterns matches the call's target and its
``when`` holds. The target is the spec tool (the MCP server or outside agent that owns the
function), ``agent.NAME`` for a delegation to agent NAME, or ``memory.STORE`` for a memory tool
of store STORE; a pattern reaches delegations and memory calls only when it is written with
their prefix (``agent.*``, ``memory.notes``), so ``tools: ["*"]`` keeps meaning every spec
tool. ``when`` is evaluated ``when`` is the
sandboxed expression validate checks (:mod:`agentform.expressions`), over ``args``, ``agent``,
``tool`` (the spec tool), ``function``, ``task`` (``id``, ``inputs``, ``parent_id``, ``agent``,
``caller``), ``context`` (``id``) and ``subject`` (who asked: a token's subject, ``operator``,
``agent:NAME``; undefined for a task recorded without one, so a condition on it fails).

Combining, in this order: an applying **deny** wins; then **require_approval**; then
**allow**; a call no policy applies to gets the agent's ``default_effect`` (resolved by
planning from the agent or the project: allow unless one says deny). A delegation or memory
call no policy applies to is allowed: the agent's ``delegates`` and ``memory`` already name
what it may reach, and stores have their own ``access`` rules. A ``when`` that cannot be
evaluated (a missing argument, a wrong type, an undefined name) **denies**, naming the policy
and why: a broken rule never opens a door. A require_approval decision holds the call
(:mod:`.holding`).

Fast on purpose (``benchmarks/bench_policy.py``): patterns are compiled once, the policies that
can apply to a tool are found once per tool, and only their conditions are evaluated.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from agentform.contract import PolicyValue
from agentform.expressions import safe_environment
from agentform.runtime.store import TaskRecord

__all__ = ["QUALIFIED", "Decision", "Effect", "PolicyDecisionPoint", "args_digest", "target_of"]

# the prefixes of call targets that are not spec tools: delegations and memory stores
QUALIFIED = ("agent.", "memory.")


def target_of(kind: str, name: str) -> str:
    """The name policies match for a call that is not a spec tool's: ``agent.NAME`` for a
    delegation, ``memory.STORE`` for a memory tool."""
    return f"{kind}.{name}"


Effect = Literal["allow", "deny", "require_approval"]
ENFORCED: frozenset[str] = frozenset({"allow", "deny", "require_approval"})


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policies say of one call: the effect, the policies that said it, and why."""

    effect: Effect
    policies: tuple[str, ...] = ()
    reason: str = ""

    @property
    def enforced(self) -> bool:
        return self.effect in ENFORCED

    def to_dict(self, digest: str) -> dict[str, Any]:
        """The decision as recorded with the call's step (the arguments by their digest)."""
        return {
            "effect": self.effect,
            "policies": list(self.policies),
            "reason": self.reason,
            "args_digest": digest,
            "enforced": self.enforced,
        }


ALLOWED = Decision("allow", (), "no policy applies to this call")
DEFAULT_DENIED = Decision(
    "deny",
    (),
    "denied by the agent's default_effect (deny): no policy allows this call; an allow policy"
    " on this agent and tool would permit it",
)


# built once: json.dumps builds an encoder per call when given options
_CANONICAL = json.JSONEncoder(sort_keys=True, default=str, separators=(",", ":"))


def args_digest(arguments: Mapping[str, Any]) -> str:
    """A short fingerprint of a call's arguments (recorded with its decision, not the values)."""
    canonical = _CANONICAL.encode(arguments)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    effect: Effect
    tools: re.Pattern[str] | None  # matches spec tools
    qualified: re.Pattern[str] | None  # matches agent.NAME and memory.STORE targets
    when: str | None
    condition: Callable[..., Any] | None
    broken: str | None = None  # why ``when`` does not compile (validate reports it too)


@dataclass(frozen=True, slots=True)
class _ToolRules:
    """The rules that can apply to one tool, and their conditions compiled into one list
    expression: one sandbox context per decision, not one per condition."""

    rules: list[_Rule]
    together: Callable[..., Any] | None


def _patterns(globs: list[str]) -> re.Pattern[str] | None:
    if not globs:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs))


def _compiled(name: str, policy: PolicyValue) -> _Rule:
    condition, broken = None, None
    if policy.when:
        try:
            condition = safe_environment().compile_expression(policy.when, undefined_to_none=False)
        except Exception as exc:  # a spec validate refused: the rule denies, saying why
            broken = _why(exc)
    plain = [g for g in policy.tools if not g.startswith(QUALIFIED)]
    qualified = [g for g in policy.tools if g.startswith(QUALIFIED)]
    return _Rule(
        name,
        policy.effect,
        _patterns(plain),
        _patterns(qualified),
        policy.when,
        condition,
        broken,
    )


class PolicyDecisionPoint:
    """The policies that govern one agent, compiled once; :meth:`decide` per tool call."""

    def __init__(
        self,
        agent: str,
        policies: Mapping[str, PolicyValue],
        default_effect: Literal["allow", "deny"] = "allow",
    ) -> None:
        self.agent = agent
        self.default = ALLOWED if default_effect == "allow" else DEFAULT_DENIED
        self.policies = dict(policies)
        self._rules = [
            _compiled(name, policy)
            for name, policy in sorted(policies.items())
            if any(fnmatch.fnmatchcase(agent, pattern) for pattern in policy.agents)
        ]
        self._by_tool: dict[str, _ToolRules] = {}

    def __bool__(self) -> bool:
        """Whether there is anything to decide (no policy and allow by default: nothing)."""
        return bool(self._rules) or self.default is not ALLOWED

    def _rules_for(self, tool: str) -> list[_Rule]:
        return self._for(tool).rules

    def _for(self, tool: str) -> _ToolRules:
        found = self._by_tool.get(tool)
        if found is None:
            kind = "qualified" if tool.startswith(QUALIFIED) else "tools"
            rules = [
                r
                for r in self._rules
                if (pattern := getattr(r, kind)) is not None and pattern.match(tool)
            ]
            whens = [r.when for r in rules if r.condition is not None]
            together = None
            if len(whens) > 1:
                listed = ", ".join(f"(({w}))" for w in whens)
                with contextlib.suppress(Exception):  # each compiled alone: evaluated alone
                    together = safe_environment().compile_expression(
                        f"[{listed}]", undefined_to_none=False
                    )
            found = self._by_tool[tool] = _ToolRules(rules, together)
        return found

    def decide(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        *,
        function: str | None = None,
        task: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        subject: str | None = None,
    ) -> Decision:
        """The decision on ``agent`` calling ``tool`` (a spec tool, ``agent.NAME`` or
        ``memory.STORE``; its ``function``)."""
        found = self._for(tool)
        if not found.rules:
            # default_effect governs spec tools; delegations and memory are declared grants
            return self.default if not tool.startswith(QUALIFIED) else ALLOWED
        names: dict[str, Any] = {
            "args": dict(arguments),
            "agent": self.agent,
            "tool": tool,
            "function": function or tool,
            "task": dict(task or {}),
            "context": dict(context or {}),
        }
        if subject is not None:  # who asked; undefined (a condition on it denies) when unknown
            names["subject"] = subject
        holds = self._conditions(found, names)
        applying: dict[str, list[str]] = {"deny": [], "require_approval": [], "allow": []}
        failed: list[str] = []
        for rule in found.rules:
            verdict = holds.get(rule.name, True)
            if isinstance(verdict, str):
                failed.append(f"{rule.name} ({rule.when}: {verdict})")
            elif verdict:
                applying[rule.effect].append(rule.name)
        if failed:
            return Decision(
                "deny",
                tuple(f.partition(" ")[0] for f in failed) + tuple(applying["deny"]),
                "the condition of policy "
                + "; of policy ".join(failed)
                + " could not be evaluated, so the call is denied",
            )
        for effect in ("deny", "require_approval", "allow"):
            if applying[effect]:
                named = ", ".join(self._named(n) for n in applying[effect])
                return Decision(effect, tuple(applying[effect]), f"{_WORDS[effect]} {named}")
        return self.default if not tool.startswith(QUALIFIED) else ALLOWED

    @staticmethod
    def _conditions(found: _ToolRules, names: dict[str, Any]) -> dict[str, bool | str]:
        """Each conditional rule's verdict: whether its ``when`` holds, or why it failed."""
        conditional = [r for r in found.rules if r.condition is not None or r.broken]
        if found.together is not None and not any(r.broken for r in conditional):
            values = _together(found.together, names)
            if values is not None:
                return {r.name: bool(v) for r, v in zip(conditional, values, strict=True)}
            # one of them failed: find which, one at a time
        out: dict[str, bool | str] = {}
        for rule in conditional:
            if rule.broken is not None:
                out[rule.name] = f"does not compile: {rule.broken}"
                continue
            assert rule.condition is not None
            try:
                out[rule.name] = bool(rule.condition(**names))
            except Exception as exc:  # any failure of a condition denies
                out[rule.name] = _why(exc)
        return out

    def hold_terms(self, names: Sequence[str]) -> tuple[list[str], timedelta | None]:
        """Who may approve a call these policies hold (their approvers' roles), and how long it
        may wait (the shortest approval_timeout among them; None: no deadline)."""
        held = [self.policies[n] for n in names if n in self.policies]
        approvers = sorted({role for p in held for role in p.approvers})
        timeouts = [p.approval_timeout for p in held if p.approval_timeout is not None]
        return approvers, min(timeouts) if timeouts else None

    def on_call(
        self, tool: str, function: str, arguments: Mapping[str, Any], task: TaskRecord
    ) -> dict[str, Any]:
        """The decision on one call of ``task``, as the agent loop records it."""
        decision = self.decide(
            tool,
            arguments,
            function=function,
            task={
                "id": task.id,
                "inputs": task.inputs,
                "parent_id": task.parent_id,
                "agent": task.agent,
                "caller": task.caller,
            },
            context={"id": task.context_id},
            subject=task.caller,
        )
        return {**decision.to_dict(args_digest(arguments)), "tool": tool}

    def _named(self, name: str) -> str:
        when = next((r.when for r in self._rules if r.name == name), None)
        return f"{name!r} (when {when})" if when else repr(name)


_WORDS = {
    "deny": "denied by policy",
    "require_approval": "held for approval by policy",
    "allow": "allowed by policy",
}


def _together(expression: Callable[..., Any], names: dict[str, Any]) -> list[Any] | None:
    """Every condition's value at once, or None when any of them fails."""
    try:
        return list(expression(**names))
    except Exception:  # any failure: the caller evaluates one at a time to say which
        return None


def _why(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
