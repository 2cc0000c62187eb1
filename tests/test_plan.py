"""Planning: every action and reason, risk flags, ordering, drift, targets and forced replace."""

from __future__ import annotations

from typing import Any

import pytest

from agentform.plan import Action, Change, Plan, PlanError, make_plan
from agentform.provider import ObservedResource, ResourceValue
from agentform.state.snapshot import RecordedResource, StateSnapshot

Values = dict[str, Any]

AGENT: Values = {
    "model": "fast",
    "instructions": "Help",
    "tools": ["kb"],
    "memory": [],
    "delegates": [],
    "policies": [],
    "replicas": 1,
}


def desired(**resources: Values) -> dict[str, ResourceValue]:
    return {
        a.replace("__", "."): ResourceValue.of(a.replace("__", "."), v)
        for a, v in resources.items()
    }


def state(serial: int = 4, **resources: Values) -> StateSnapshot:
    recorded = {}
    for key, values in resources.items():
        address = key.replace("__", ".")
        kind, name = address.split(".", 1)
        recorded[address] = RecordedResource(
            kind=kind, name=name, provider="fake", id=f"{kind}-1", values=values
        )
    return StateSnapshot(
        lineage="L", serial=serial, project="p", environment="dev", resources=recorded
    )


def only(plan: Plan, address: str) -> Change:
    (change,) = [c for c in plan.changes if c.address == address]
    return change


@pytest.mark.parametrize(
    ("before", "after", "action", "reasons"),
    [
        (None, {"x": 1}, Action.CREATE, ("not in state",)),
        ({"x": 1}, {"x": 1}, Action.NOOP, ("up to date",)),
        ({"x": 1}, {"x": 2}, Action.UPDATE, ("x: 1 → 2",)),
        ({"x": None}, {"x": 2}, Action.UPDATE, ("x set to 2",)),
        ({"x": 2}, {"x": None}, Action.UPDATE, ("x unset (was 2)",)),
        ({"x": "a" * 50}, {"x": "b"}, Action.UPDATE, ("x changed",)),
        ({"x": {"a": 1}}, {"x": {"a": 2}}, Action.UPDATE, ("x changed",)),
        ({"instructions": "Hi"}, {"instructions": "Yo"}, Action.UPDATE, ("instructions changed",)),
        ({"tools": ["kb"]}, {"tools": ["kb", "refunds"]}, Action.UPDATE, ("tools: + refunds",)),
        ({"tools": ["kb"]}, {"tools": ["ops"]}, Action.UPDATE, ("tools: + ops - kb",)),
        (
            {"kind": "session"},
            {"kind": "shared"},
            Action.REPLACE,
            ("kind: 'session' → 'shared'", "kind cannot change in place"),
        ),
        ({"x": 1}, None, Action.DELETE, ("removed from the spec",)),
    ],
    ids=[
        "create",
        "noop",
        "update-scalar",
        "update-set",
        "update-unset",
        "update-long",
        "update-nested",
        "update-instructions",
        "update-list-add",
        "update-list-swap",
        "replace-field",
        "delete",
    ],
)
def test_actions_and_reasons(
    before: Values | None, after: Values | None, action: Action, reasons: tuple[str, ...]
) -> None:
    want = desired(tool__t=after) if after is not None else {}
    have = state(tool__t=before) if before is not None else state()
    change = only(make_plan(want, have, replace_fields={"tool": {"kind"}}), "tool.t")
    assert (change.action, change.reasons) == (action, reasons)


@pytest.mark.parametrize(
    ("action", "symbol"),
    [
        (Action.CREATE, "+"),
        (Action.UPDATE, "~"),
        (Action.REPLACE, "-/+"),
        (Action.DELETE, "-"),
        (Action.NOOP, " "),
    ],
    ids=["create", "update", "replace", "delete", "noop"],
)
def test_action_symbols(action: Action, symbol: str) -> None:
    assert action.symbol == symbol


@pytest.mark.parametrize(
    ("address", "before", "after", "expected"),
    [
        (
            "agent.a",
            AGENT,
            {**AGENT, "tools": ["kb", "refunds"]},
            [("medium", "agent.a may now call tool refunds")],
        ),
        (
            "agent.a",
            AGENT,
            {**AGENT, "instructions": "Be bold"},
            [("medium", "instructions of agent.a changed: its behaviour will change")],
        ),
        (
            "agent.a",
            AGENT,
            {**AGENT, "delegates": ["b"]},
            [("medium", "new delegation edge agent.a → agent.b")],
        ),
        ("agent.a", AGENT, {**AGENT, "replicas": 3}, []),
        ("agent.a", AGENT, {**AGENT, "tools": []}, []),
        (
            "policy.p",
            {"effect": "deny"},
            {"effect": "allow"},
            [("high", "policy.p widened: deny → allow")],
        ),
        (
            "policy.p",
            {"effect": "deny"},
            {"effect": "require_approval"},
            [("high", "policy.p widened: deny → require_approval")],
        ),
        (
            "policy.p",
            {"effect": "require_approval"},
            {"effect": "allow"},
            [("high", "policy.p widened: require_approval → allow")],
        ),
        ("policy.p", {"effect": "allow"}, {"effect": "deny"}, []),
        (
            "policy.p",
            {"effect": "allow", "when": "args.n < 5"},
            {"effect": "allow", "when": None},
            [("high", "policy.p no longer has a condition: it applies to every call")],
        ),
        (
            "policy.p",
            {"effect": "allow", "agents": ["a"]},
            {"effect": "allow", "agents": ["a", "b"]},
            [("high", "allow policy policy.p now covers agents: + b")],
        ),
        (
            "policy.p",
            {"effect": "allow", "tools": ["kb"]},
            {"effect": "allow", "tools": ["kb", "x"]},
            [("high", "allow policy policy.p now covers tools: + x")],
        ),
        (
            "policy.p",
            {"effect": "deny", "tools": ["kb"]},
            {"effect": "deny", "tools": ["kb", "x"]},
            [],
        ),
        (
            "memory.m",
            {"retention": "30d"},
            {"retention": "7d"},
            [("high", "retention of memory.m shortened: 30d → 7d; data expires sooner")],
        ),
        (
            "memory.m",
            {"retention": None},
            {"retention": "7d"},
            [("high", "retention of memory.m shortened: unlimited → 7d; data expires sooner")],
        ),
        (
            "memory.m",
            {"ttl": "1d"},
            {"ttl": "12h"},
            [("medium", "ttl of memory.m shortened: 1d → 12h; data expires sooner")],
        ),
        ("memory.m", {"ttl": "1d"}, {"ttl": "2d"}, []),
        ("memory.m", {"ttl": "1d"}, None, [("high", "deleting memory.m destroys its data")]),
        (
            "policy.p",
            None,
            {"effect": "allow"},
            [("high", "new allow policy policy.p widens what agents may call")],
        ),
        ("policy.p", None, {"effect": "deny"}, []),
    ],
    ids=[
        "agent-new-tool",
        "agent-instructions",
        "agent-new-delegate",
        "agent-replicas",
        "agent-tool-removed",
        "policy-deny-to-allow",
        "policy-deny-to-approval",
        "policy-approval-to-allow",
        "policy-narrowed",
        "policy-when-removed",
        "policy-allow-more-agents",
        "policy-allow-more-tools",
        "policy-deny-more-tools",
        "memory-retention-shorter",
        "memory-retention-was-unlimited",
        "memory-ttl-shorter",
        "memory-ttl-longer",
        "memory-deleted",
        "policy-new-allow",
        "policy-new-deny",
    ],
)
def test_risks(
    address: str, before: Values | None, after: Values | None, expected: list[tuple[str, str]]
) -> None:
    key = address.replace(".", "__")
    want = desired(**{key: after}) if after is not None else {}
    have = state(**{key: before}) if before is not None else state()
    change = only(make_plan(want, have), address)
    assert [(r.level, r.message) for r in change.risks] == expected


def test_replacing_memory_is_a_high_risk() -> None:
    plan = make_plan(
        desired(memory__m={"kind": "shared"}),
        state(memory__m={"kind": "session"}),
        replace_fields={"memory": ["kind"]},
    )
    change = only(plan, "memory.m")
    assert change.action is Action.REPLACE
    assert ("high", "replacing memory.m destroys its data") in [
        (r.level, r.message) for r in change.risks
    ]


def test_plan_records_the_state_it_was_made_against() -> None:
    plan = make_plan({}, state(serial=7))
    assert (plan.project, plan.environment, plan.lineage, plan.serial) == ("p", "dev", "L", 7)
    fresh = make_plan(desired(tool__t={}), None, project="p", environment="dev")
    assert (fresh.lineage, fresh.serial, fresh.has_changes) == (None, 0, True)
    assert not make_plan({}, state()).has_changes


def test_creates_in_dependency_order_and_deletes_in_reverse() -> None:
    want = desired(
        schedule__s={"agent": "a"},
        agent__a={**AGENT, "memory": ["m"]},
        memory__m={},
        model__fast={},
        tool__kb={},
        runtime__bus={},
        runtime__store={},
    )
    plan = make_plan(want, None)
    order = [c.address for c in plan.changes]
    for before, after in [
        ("memory.m", "agent.a"),
        ("agent.a", "schedule.s"),
        ("runtime.store", "memory.m"),
        ("tool.kb", "agent.a"),
    ]:
        assert order.index(before) < order.index(after)
    assert only(plan, "schedule.s").waits_for == ("agent.a",)

    have = state(**{a.replace(".", "__"): dict(v.values) for a, v in want.items()})
    gone = make_plan({}, have)
    order = [c.address for c in gone.changes]
    assert {c.action for c in gone.changes} == {Action.DELETE}
    for before, after in [
        ("schedule.s", "agent.a"),
        ("agent.a", "memory.m"),
        ("memory.m", "runtime.store"),
    ]:
        assert order.index(before) < order.index(after)
    assert only(gone, "agent.a").waits_for == ("schedule.s",)


def test_a_delete_waits_for_the_update_that_stops_using_it() -> None:
    plan = make_plan(
        desired(agent__a={**AGENT, "tools": []}),
        state(agent__a=AGENT, tool__kb={}),
    )
    assert [c.address for c in plan.changes] == ["agent.a", "tool.kb"]
    assert only(plan, "tool.kb").waits_for == ("agent.a",)


@pytest.mark.parametrize(
    ("live", "action", "reasons", "drift_fields"),
    [
        ({"x": 1}, Action.NOOP, ("up to date",), None),
        ({"x": 1, "status": "running"}, Action.NOOP, ("up to date",), None),
        ({"x": 5}, Action.UPDATE, ("x: 5 → 1", "changed outside agentform"), ("x",)),
        (None, Action.CREATE, ("deleted outside agentform",), ("x",)),
    ],
    ids=["in-sync", "provider-only-fields-ignored", "edited-outside", "deleted-outside"],
)
def test_drift(
    live: Values | None,
    action: Action,
    reasons: tuple[str, ...],
    drift_fields: tuple[str, ...] | None,
) -> None:
    observed = {"tool.t": None if live is None else ObservedResource("tool.t", "tool-1", live)}
    plan = make_plan(desired(tool__t={"x": 1}), state(tool__t={"x": 1}), observed)
    change = only(plan, "tool.t")
    assert (change.action, change.reasons) == (action, reasons)
    assert [d.fields for d in plan.drift] == ([] if drift_fields is None else [drift_fields])
    if live is None:
        assert plan.drift[0].observed is None


def test_refresh_only_plans_drift_and_no_changes() -> None:
    observed = {"tool.t": ObservedResource("tool.t", "tool-1", {"x": 5})}
    plan = make_plan(
        desired(tool__t={"x": 2}), state(tool__t={"x": 1}), observed, refresh_only=True
    )
    assert plan.changes == ()
    assert plan.refresh_only and plan.has_changes
    assert [(d.address, d.fields) for d in plan.drift] == [("tool.t", ("x",))]


def test_deleting_what_is_already_gone_says_so() -> None:
    plan = make_plan({}, state(tool__t={"x": 1}), {"tool.t": None})
    assert only(plan, "tool.t").reasons == (
        "removed from the spec (already deleted outside agentform)",
    )


def test_target_limits_to_the_address_and_its_dependencies() -> None:
    want = desired(
        agent__a={**AGENT, "tools": ["kb"]},
        agent__b={**AGENT, "tools": ["ops"]},
        tool__kb={},
        tool__ops={},
        model__fast={},
    )
    plan = make_plan(want, state(tool__gone={}), targets=["agent.a"])
    assert sorted(c.address for c in plan.changes) == ["agent.a", "model.fast", "tool.kb"]
    deletes = make_plan(want, state(tool__gone={}), targets=["tool.gone"])
    assert [(c.address, c.action) for c in deletes.changes] == [("tool.gone", Action.DELETE)]


def test_replace_forces_a_replace_with_a_reason() -> None:
    plan = make_plan(desired(tool__t={"x": 1}), state(tool__t={"x": 1}), force_replace=["tool.t"])
    change = only(plan, "tool.t")
    assert (change.action, change.reasons) == (Action.REPLACE, ("replace requested",))


@pytest.mark.parametrize(
    "options",
    [{"targets": ["agent.nope"]}, {"force_replace": ["tool.nope"]}],
    ids=["target", "replace"],
)
def test_unknown_addresses_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(PlanError, match="is neither in the spec nor in state"):
        make_plan(desired(tool__t={}), state(), **options)


def test_an_unrecorded_object_at_a_desired_address_is_adopted() -> None:
    from agentform.plan import Action, make_plan
    from agentform.provider import ObservedResource, ResourceValue

    desired = {"tool.kb": ResourceValue.of("tool.kb", {"side_effects": "none"})}
    orphan = ObservedResource("tool.kb", "tool-1", {"side_effects": "none"})
    plan = make_plan(desired, None, {"tool.kb": orphan}, project="p", environment="e")
    (change,) = plan.changes
    assert change.action is Action.UPDATE
    assert change.id == "tool-1"
    assert change.reasons[0].startswith("exists but is not in state")


@pytest.mark.parametrize(
    ("address", "before", "after", "reason"),
    [
        ("model.m", {"s.yaml": "sha256:1"}, {"s.yaml": "sha256:2"}, "script file s.yaml changed"),
        ("model.m", {"s.yaml": "sha256:1"}, {"s.yaml": None}, "script file s.yaml is missing"),
        ("tool.kb", {"kb.py": "sha256:1"}, {"kb.py": "sha256:2"}, "server file kb.py changed"),
        ("tool.kb", None, {"kb.py": "sha256:1"}, "server file kb.py tracked"),
        ("tool.kb", {"a.py": "sha256:1"}, {"b.py": "sha256:1"}, "server file b.py tracked;"
         " server file a.py no longer tracked"),
    ],
    ids=["edited", "deleted", "server-edited", "upgrade", "another-file"],
)  # fmt: skip
def test_a_file_change_names_the_file(
    address: str, before: dict[str, Any] | None, after: dict[str, Any], reason: str
) -> None:
    from agentform.plan import Action, make_plan
    from agentform.provider import ResourceValue

    values = {"side_effects": "none"}
    old = {**values, **({"files": before} if before else {})}
    plan = make_plan(
        {address: ResourceValue.of(address, {**values, "files": after})},
        state(**{address.replace(".", "__"): old}),
    )
    (change,) = plan.changes
    assert change.action is Action.UPDATE
    assert change.reasons == (reason,)


def test_an_adopted_agent_is_compared_by_its_values_not_its_status() -> None:
    from agentform.plan import Action, make_plan
    from agentform.provider import ObservedResource, ResourceValue

    values = {"model": "m", "replicas": 1}
    desired = {"agent.a": ResourceValue.of("agent.a", values)}
    orphan = ObservedResource("agent.a", "a-1", {**values, "status": {"running": 1}})
    (change,) = make_plan(desired, None, {"agent.a": orphan}, project="p", environment="e").changes
    assert change.action is Action.UPDATE  # recording it is the update
    assert change.changed == ()
    assert change.reasons == ("exists but is not in state (an interrupted apply?): adopting it",)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"entries": 0, "bytes": 0}, ("low", "memory.m holds no data")),
        (
            {"entries": 12, "bytes": 900},
            ("high", "deleting memory.m destroys its data (12 entries, 900 bytes)"),
        ),
        (None, ("high", "deleting memory.m destroys its data")),
    ],
    ids=["empty", "with-data", "not-reported"],
)
def test_deleting_memory_is_risky_only_when_it_holds_data(
    data: dict[str, int] | None, expected: tuple[str, str]
) -> None:
    values: dict[str, Any] = {"kind": "long_term"}
    if data is not None:
        values["data"] = data
    observed = {"memory.m": ObservedResource("memory.m", "memory.m", values)}
    change = only(make_plan({}, state(memory__m={"kind": "long_term"}), observed), "memory.m")
    assert change.action is Action.DELETE
    assert [(r.level, r.message) for r in change.risks] == [expected]


def test_a_dependency_cycle_is_a_plan_error_naming_it() -> None:
    want = desired(model__a={"fallback": ["b"]}, model__b={"fallback": ["a"]}, tool__t={})
    with pytest.raises(PlanError, match=r"cycle: model\.a, model\.b"):
        make_plan(want, None)


def test_many_deletes_wait_for_their_users_and_go_dependants_first() -> None:
    tools = {f"tool__t{i}": {} for i in range(300)}
    agents = {f"agent__a{i}": {"tools": [f"t{i}", f"t{(i + 1) % 300}"]} for i in range(300)}
    plan = make_plan({}, state(**tools, **agents))
    order = [c.address for c in plan.changes]
    assert len(order) == 600
    for i in range(300):
        # an agent goes before the tools it used; a tool's delete waits for its users' deletes
        assert order.index(f"agent.a{i}") < order.index(f"tool.t{i}")
        waits = only(plan, f"tool.t{i}").waits_for
        assert set(waits) == {f"agent.a{i}", f"agent.a{(i - 1) % 300}"}
