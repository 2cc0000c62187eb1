"""Plan rendering: symbols, reasons, field-level changes, risks and the summary line."""

from __future__ import annotations

from agentform.plan import Action, Change, Drift, Plan, Risk
from agentform.render import render_plan, summary

PLAN = Plan(
    project="desk",
    environment="default",
    lineage="l",
    serial=3,
    changes=(
        Change(
            "tool.refunds",
            Action.CREATE,
            None,
            {"side_effects": "unsafe", "expose": None},
            reasons=("not in state",),
        ),
        Change(
            "agent.triage",
            Action.UPDATE,
            {"tools": ["kb"], "instructions": "Hi\nthere"},
            {"tools": ["kb", "refunds"], "instructions": "Hello\nthere"},
            changed=("instructions", "tools"),
            reasons=("instructions changed", "tools: + refunds"),
            risks=(Risk("medium", "agent.triage may now call tool refunds"),),
        ),
        Change(
            "memory.board",
            Action.REPLACE,
            {"kind": "shared"},
            {"kind": "session"},
            changed=("kind",),
            replace_fields=("kind",),
            reasons=("kind cannot change in place",),
            risks=(Risk("high", "replacing memory.board destroys its data"),),
        ),
        Change(
            "schedule.old",
            Action.DELETE,
            {"cron": "0 9 * * *"},
            None,
            reasons=("removed from the spec",),
        ),
        Change("model.fast", Action.NOOP, {}, {}, reasons=("up to date",)),
    ),
    drift=(Drift("tool.kb", ("timeout",), {"timeout": "5s"}, {"timeout": "9s"}),),
)


def test_render_plan_golden() -> None:
    assert (
        render_plan(PLAN)
        == """\
Objects changed outside agentform:
  ~ tool.kb: timeout

+ tool.refunds  (create)
    # not in state
    + side_effects: "unsafe"

~ agent.triage  (update in place)
    # instructions changed; tools: + refunds
    ~ instructions: "Hi" (+1 more lines) -> "Hello" (+1 more lines)
    ~ tools: ["kb"] -> ["kb", "refunds"]
  ! medium: agent.triage may now call tool refunds

-/+ memory.board  (replace)
    # kind cannot change in place
    ~ kind: "shared" -> "session"  # forces replacement
  ! high: replacing memory.board destroys its data

- schedule.old  (destroy)
    # removed from the spec

Plan: 1 to add, 1 to change, 1 to replace, 1 to destroy.
"""
    )


def test_colour_only_when_asked() -> None:
    assert "\x1b[" not in render_plan(PLAN)
    assert "\x1b[32m+\x1b[0m tool.refunds" in render_plan(PLAN, color=True)


def test_summaries() -> None:
    empty = Plan(project="p", environment="e", lineage=None, serial=0)
    assert summary(empty) == "No changes. The running system matches the spec."
    refresh = Plan(
        project="p", environment="e", lineage="l", serial=1, drift=PLAN.drift, refresh_only=True
    )
    assert summary(refresh) == "Refresh: 1 object changed outside agentform."
    assert "tool.refunds" not in render_plan(refresh)
