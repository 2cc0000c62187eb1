"""The policy decision point: which policies apply to a call, and how their effects combine.

A deny that applies wins, then require_approval, then allow; a call no policy applies to is
allowed; a condition that cannot be evaluated denies, naming the policy and why.
"""

from __future__ import annotations

from typing import Any

import pytest

from agentform.contract import PolicyValue
from agentform.runtime.policy.decision import Decision, PolicyDecisionPoint, args_digest

TASK = {"inputs": {}}
POLICIES = {
    "ceiling": PolicyValue(tools=["refunds"], effect="deny", when="args.amount > 1000"),
    "approval": PolicyValue(
        agents=["billing"],
        tools=["refunds"],
        effect="require_approval",
        when="args.amount > 100",
        approvers=["lead"],
    ),
    "eu-only": PolicyValue(
        agents=["bill*"], tools=["pay*"], effect="deny", when="args.currency not in ['EUR']"
    ),
    "kb-ok": PolicyValue(agents=["*"], tools=["kb"], effect="allow"),
    "triage-never": PolicyValue(agents=["triage"], tools=["*"], effect="deny"),
    "vip": PolicyValue(
        tools=["refunds"],
        effect="allow",
        when="task.inputs.tier is defined and task.inputs.tier == 'vip'",
    ),
}


@pytest.mark.parametrize(
    ("agent", "tool", "args", "inputs", "effect", "policies"),
    [
        ("billing", "refunds", {"amount": 5}, {}, "allow", ()),
        ("billing", "refunds", {"amount": 500}, {}, "require_approval", ("approval",)),
        ("billing", "refunds", {"amount": 5000}, {}, "deny", ("ceiling",)),
        ("billing", "refunds", {"amount": 5000}, {"tier": "vip"}, "deny", ("ceiling",)),
        ("billing", "refunds", {"amount": 500}, {"tier": "vip"}, "require_approval", ("approval",)),
        ("billing", "refunds", {"amount": 5}, {"tier": "vip"}, "allow", ("vip",)),
        ("support", "refunds", {"amount": 500}, {}, "allow", ()),
        ("billing", "payments", {"currency": "USD"}, {}, "deny", ("eu-only",)),
        ("billing", "payments", {"currency": "EUR"}, {}, "allow", ()),
        ("billing", "kb", {}, {}, "allow", ("kb-ok",)),
        ("triage", "kb", {}, {}, "deny", ("triage-never",)),
        ("triage", "anything", {}, {}, "deny", ("triage-never",)),
    ],
    ids=["small", "held", "over-ceiling", "deny-beats-allow", "approval-beats-allow", "vip",
         "other-agent", "glob-deny", "glob-pass", "allow", "deny-all", "deny-any-tool"],
)  # fmt: skip
def test_effects_combine_deny_then_approval_then_allow(
    agent: str,
    tool: str,
    args: dict[str, Any],
    inputs: dict[str, Any],
    effect: str,
    policies: tuple[str, ...],
) -> None:
    decision = PolicyDecisionPoint(agent, POLICIES).decide(tool, args, task={"inputs": inputs})
    assert (decision.effect, decision.policies) == (effect, policies)


@pytest.mark.parametrize(
    ("args", "why"),
    [
        ({}, "has no attribute 'amount'"),
        ({"amount": "lots"}, "'>' not supported"),
    ],
    ids=["missing-argument", "wrong-type"],
)
def test_a_condition_that_fails_denies_and_says_why(args: dict[str, Any], why: str) -> None:
    decision = PolicyDecisionPoint("support", POLICIES).decide("refunds", args, task=TASK)
    assert decision.effect == "deny"
    assert decision.policies == ("ceiling",)
    assert "could not be evaluated" in decision.reason and why in decision.reason
    assert "args.amount > 1000" in decision.reason


def test_a_name_the_runtime_does_not_supply_denies() -> None:
    policies = {"who": PolicyValue(tools=["*"], effect="allow", when="subject == 'ops'")}
    decision = PolicyDecisionPoint("a", policies).decide("kb", {})
    assert decision.effect == "deny" and "'subject' is undefined" in decision.reason


def test_the_reason_names_the_policy_and_its_condition() -> None:
    decision = PolicyDecisionPoint("billing", POLICIES).decide(
        "refunds", {"amount": 2000}, task=TASK
    )
    assert decision.reason == "denied by policy 'ceiling' (when args.amount > 1000)"


def test_no_policy_no_decision_and_what_is_recorded() -> None:
    assert not PolicyDecisionPoint("a", {})
    point = PolicyDecisionPoint("billing", POLICIES)
    assert point
    recorded = Decision("deny", ("ceiling",), "why").to_dict(args_digest({"amount": 2000}))
    assert recorded == {
        "effect": "deny",
        "policies": ["ceiling"],
        "reason": "why",
        "args_digest": args_digest({"amount": 2000}),
        "enforced": True,
    }
    assert args_digest({"a": 1, "b": 2}) == args_digest({"b": 2, "a": 1})
    assert args_digest({"a": 1}) != args_digest({"a": 2})
    assert Decision("require_approval").enforced  # held until a human decides


def test_a_condition_that_does_not_compile_denies_instead_of_crashing_the_worker() -> None:
    policies = {
        "broken": PolicyValue(tools=["kb"], effect="allow", when="args.q >"),
        "fine": PolicyValue(tools=["kb"], effect="allow", when="args.q == 1"),
    }
    decision = PolicyDecisionPoint("a", policies).decide("kb", {"q": 1}, task=TASK)
    assert decision.effect == "deny"
    assert decision.policies == ("broken",)
    assert "does not compile" in decision.reason


def test_conditions_evaluated_together_agree_with_one_at_a_time() -> None:
    """Many conditions on one tool run as one expression; a failing one falls back to one at a
    time, and the verdicts are the same either way."""
    many = {
        f"p{i}": PolicyValue(tools=["t"], effect="deny", when=f"args.n == {i}") for i in range(30)
    }
    point = PolicyDecisionPoint("a", many)
    for n in (3, 29, 99):
        decision = point.decide("t", {"n": n}, task=TASK)
        expected = ("deny", (f"p{n}",)) if n < 30 else ("allow", ())
        assert (decision.effect, decision.policies) == expected
    missing = point.decide("t", {}, task=TASK)
    assert missing.effect == "deny" and len(missing.policies) == 30


@pytest.mark.parametrize(
    ("default", "tool", "args", "effect", "policies"),
    [
        ("allow", "search", {}, "allow", ()),
        ("deny", "search", {}, "deny", ()),
        ("deny", "kb", {}, "allow", ("kb-ok",)),
        ("deny", "refunds", {"amount": 5}, "deny", ()),  # no policy applies: the default
        ("deny", "refunds", {"amount": 500}, "require_approval", ("approval",)),
    ],
    ids=["allow-default", "deny-default", "allowed-by-policy", "conditions-false", "held"],
)
def test_default_effect_decides_what_no_policy_applies_to(
    default: str, tool: str, args: dict[str, Any], effect: str, policies: tuple[str, ...]
) -> None:
    point = PolicyDecisionPoint("billing", POLICIES, default)  # type: ignore[arg-type]
    decision = point.decide(tool, args, task=TASK)
    assert (decision.effect, decision.policies) == (effect, policies)
    if (effect, policies) == ("deny", ()):
        assert decision.reason.startswith("denied by the agent's default_effect (deny)")


def test_a_deny_default_governs_even_without_policies() -> None:
    assert PolicyDecisionPoint("a", {}, "deny")
    assert PolicyDecisionPoint("a", {}, "deny").decide("kb", {}).effect == "deny"


QUALIFIED = {
    "no-refunds-agent": PolicyValue(agents=["triage"], tools=["agent.refunds"], effect="deny"),
    "hold-escalation": PolicyValue(
        tools=["agent.esc*"], effect="require_approval", approvers=["lead"]
    ),
    "notes-read-only": PolicyValue(
        tools=["memory.notes"], effect="deny", when="function == 'remember'"
    ),
    "everything": PolicyValue(tools=["*"], effect="deny", when="args.amount > 10"),
}


@pytest.mark.parametrize(
    ("target", "function", "args", "effect", "policies"),
    [
        ("agent.refunds", "refunds", {"message": "pay"}, "deny", ("no-refunds-agent",)),
        ("agent.escalation", "escalation", {"message": "x"}, "require_approval",
         ("hold-escalation",)),
        ("agent.billing", "billing", {"message": "x"}, "allow", ()),
        ("memory.notes", "remember", {"text": "x"}, "deny", ("notes-read-only",)),
        ("memory.notes", "recall", {"query": "x"}, "allow", ()),
        # a plain pattern (here "*", with a condition that would fail) never reaches a
        # delegation or a memory call: those are named with their prefix
        ("memory.facts", "remember", {"text": "x"}, "allow", ()),
        ("kb", "search", {"amount": 50}, "deny", ("everything",)),
    ],
    ids=["delegation-denied", "delegation-held", "delegation-unnamed", "memory-denied",
         "memory-allowed", "star-skips-memory", "star-reaches-tools"],
)  # fmt: skip
def test_delegations_and_memory_calls_are_named_with_their_prefix(
    target: str, function: str, args: dict[str, Any], effect: str, policies: tuple[str, ...]
) -> None:
    point = PolicyDecisionPoint("triage", QUALIFIED)
    decision = point.decide(target, args, function=function, task=TASK)
    assert (decision.effect, decision.policies) == (effect, policies), decision.reason


def test_a_deny_default_leaves_declared_delegations_and_memory_alone() -> None:
    point = PolicyDecisionPoint("triage", {}, default_effect="deny")
    assert point.decide("agent.billing", {"message": "x"}, task=TASK).effect == "allow"
    assert point.decide("memory.notes", {"text": "x"}, task=TASK).effect == "allow"
    assert point.decide("kb", {}, task=TASK).effect == "deny"
