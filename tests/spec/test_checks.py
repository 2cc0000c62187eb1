"""Semantic checks, one row per rule: a spec fragment and the diagnostics it must produce."""

from __future__ import annotations

import pytest

from agentform.spec import load_spec
from agentform.spec.checks.coordination import find_cycles
from tests.conftest import BASE_SPEC, WriteSpec

ACCESS = 'access:\n  roles:\n    users: ["invoke:triage"]\n'
BASE = BASE_SPEC.replace(ACCESS, "")


def diagnostics(
    write_spec: WriteSpec, extra: str, access: str = ACCESS, providers: frozenset[str] | None = None
) -> list[tuple[str, str, str | None]]:
    result = load_spec(write_spec(BASE + extra + access), environ={}, providers=providers)
    return [(d.code, d.severity.value, d.address) for d in result.diagnostics]


INVOKE_ALL = 'access:\n  roles:\n    users: ["invoke:*"]\n'
CASES = [
    ("valid", "", ACCESS, []),
    (
        "bad-agent-name",
        "  Triage Bot: {model: fast}\n",
        INVOKE_ALL,
        [("AF202", "error", "agent.Triage Bot")],
    ),
    ("unknown-model", "  b: {model: fsat}\n", INVOKE_ALL, [("AF201", "error", "agent.b")]),
    (
        "delegation-cycle",
        "  a: {model: fast, delegates: [b]}\n  b: {model: fast, "
        "delegates: [c]}\n  c: {model: fast, delegates: [a]}\n",
        INVOKE_ALL,
        [("AF203", "error", "agent.a")],
    ),
    (
        "bounded-cycle-allowed",
        "  a: {model: fast, delegates: [b], limits: {max_depth: 3}}\n"
        "  b: {model: fast, delegates: [a], limits: {max_depth: 3}}\n",
        INVOKE_ALL,
        [],
    ),
    (
        "self-delegation",
        "  a: {model: fast, delegates: [a]}\n",
        INVOKE_ALL,
        [("AF203", "error", "agent.a")],
    ),
    ("unreachable", "  lonely: {model: fast}\n", ACCESS, [("AF204", "warning", "agent.lonely")]),
    (
        "island-loop-unreachable",
        "  a: {model: fast, delegates: [b], limits: {max_depth: 2}}\n"
        "  b: {model: fast, delegates: [a], limits: {max_depth: 2}}\n",
        ACCESS,
        [("AF204", "warning", "agent.a"), ("AF204", "warning", "agent.b")],
    ),
    (
        "reached-through-delegation",
        "  a: {model: fast}\n",
        ACCESS.replace('"invoke:triage"', '"invoke:triage"') + "",
        [("AF204", "warning", "agent.a")],
    ),
    (
        "invoke-unknown-agent",
        "",
        'access:\n  roles:\n    users: ["invoke:triage", "invoke:b"]\n',
        [("AF201", "error", "role.users")],
    ),
]


@pytest.mark.parametrize(
    ("extra", "access", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_agent_checks(
    write_spec: WriteSpec, extra: str, access: str, expected: list[tuple[str, str, str]]
) -> None:
    assert diagnostics(write_spec, extra, access) == expected


def test_delegation_reaches_agents(write_spec: WriteSpec) -> None:
    text = BASE.replace("    memory: [notes]\n", "    memory: [notes]\n    delegates: [a]\n")
    text += "  a: {model: fast}\n" + ACCESS
    assert load_spec(write_spec(text), environ={}).diagnostics == []


FULL = """\
version: 1
project: desk
models:
  fast: {provider: scripted, script: scripts/rules.yaml}
tools:
  kb: {mcp: {command: [python, kb.py]}, side_effects: none}
  refunds: {mcp: {url: "http://billing/mcp"}, side_effects: unsafe}
agents:
  triage: {model: fast, tools: [kb], delegates: [billing]}
  billing: {model: fast, tools: [refunds]}
policies:
  approve-refunds:
    agents: [billing]
    tools: [refunds]
    effect: require_approval
    when: "args.amount > 100"
    approvers: [lead]
access:
  roles:
    lead: ["invoke:*", "approve:approve-refunds"]
schedules:
  daily: {cron: "0 9 * * MON-FRI", agent: triage, timezone: Europe/Berlin}
"""

# the AF219 warnings FULL draws besides each case's own row (addresses, in location order):
# none since schedules run; tests/spec/test_enforcement.py covers AF219 itself
NOT_ENFORCED: list[str] = []
NOT_ENFORCED_BY_CASE: dict[str, list[str]] = {}

GOVERNANCE = [
    ("valid", [], []),
    (
        "unguarded-unsafe-tool",
        [
            ("    effect: require_approval\n", "    effect: allow\n"),
            ("    approvers: [lead]\n", ""),
        ],
        [("AF205", "warning", "tool.refunds"), ("AF214", "warning", "role.lead")],
    ),
    (
        "bad-condition-syntax",
        [("args.amount > 100", "args.amount >")],
        [("AF206", "error", "policy.approve-refunds")],
    ),
    (
        "condition-unknown-name",
        [("args.amount > 100", "argz.amount > 100")],
        [("AF206", "error", "policy.approve-refunds")],
    ),
    (
        "no-approvers",
        [("    approvers: [lead]\n", "")],
        [("AF217", "error", "policy.approve-refunds")],
    ),
    (
        "unknown-approver",
        [("approvers: [lead]", "approvers: [leed]")],
        [("AF201", "error", "policy.approve-refunds")],
    ),
    (
        "denied-tool",
        [("policies:\n", "policies:\n  no-kb: {tools: [kb], effect: deny}\n")],
        [("AF208", "error", "agent.triage")],
    ),
    (
        "conditional-deny-is-fine",
        [("policies:\n", "policies:\n  no-kb: {tools: [kb], effect: deny, when: 'args.q == 1'}\n")],
        [],
    ),
    ("bad-permission", [('"invoke:*"', '"invoke *"')], [("AF214", "error", "role.lead")]),
    ("unknown-verb", [('"invoke:*"', '"invok:*"')], [("AF214", "error", "role.lead")]),
    (
        "invoke-unknown-agent",
        [('"invoke:*"', '"invoke:triage", "invoke:biling"')],
        [("AF201", "error", "role.lead")],
    ),
    ("bad-cron", [("0 9 * * MON-FRI", "0 9 * MON-FRI")], [("AF207", "error", "schedule.daily")]),
    ("bad-timezone", [("Europe/Berlin", "Mars/Olympus")], [("AF207", "error", "schedule.daily")]),
    (
        "cron-and-interval",
        [("agent: triage,", "agent: triage, interval: 5m,")],
        [("AF210", "error", "schedule.daily")],
    ),
    (
        "mcp-command-and-url",
        [("{command: [python, kb.py]}", "{command: [python, kb.py], url: 'http://x/mcp'}")],
        [("AF210", "error", "tool.kb")],
    ),
    ("mcp-neither", [("{command: [python, kb.py]}", "{}")], [("AF210", "error", "tool.kb")]),
    (
        "ftp-mcp-url",
        [('"http://billing/mcp"', '"ftp://billing/mcp"')],
        [("AF213", "error", "tool.refunds")],
    ),
    (
        "fallback-loop",
        [
            (
                "  fast: {provider: scripted, script: scripts/rules.yaml}\n",
                "  fast: {provider: scripted, script: scripts/rules.yaml, fallback: [slow]}\n"
                "  slow: {provider: scripted, script: scripts/rules.yaml, fallback: [fast]}\n",
            )
        ],
        [("AF216", "error", "model.fast")],
    ),
    (
        "plain-api-key",
        [
            (
                "  fast: {provider: scripted, script: scripts/rules.yaml}\n",
                "  fast: {provider: openai, model: gpt-4o, api_key: sk-123}\n",
            )
        ],
        [("AF014", "warning", "model.fast")],
    ),
    (
        "script-on-openai-model",
        [
            (
                "  fast: {provider: scripted, script: scripts/rules.yaml}\n",
                "  fast: {provider: openai, model: gpt-4o, script: scripts/rules.yaml}\n",
            )
        ],
        [("AF210", "error", "model.fast")],
    ),
    (
        "openai-needs-model",
        [
            (
                "  fast: {provider: scripted, script: scripts/rules.yaml}\n",
                "  fast: {provider: openai}\n",
            )
        ],
        [("AF103", "error", "model.fast")],
    ),
    (
        "missing-script",
        [("scripts/rules.yaml}", "scripts/nope.yaml}")],
        [("AF212", "error", "model.fast")],
    ),
    (
        "bad-template",
        [("  triage: {model: fast,", "  triage: {model: fast, instructions: '{{ x',")],
        [("AF209", "error", "agent.triage")],
    ),
    (
        "bad-store-url",
        [("schedules:\n", "runtime: {store: {url: 'mysql://db'}}\nschedules:\n")],
        [("AF213", "error", None)],
    ),
    (
        "unused-tool",
        [("agents:\n", "  spare: {mcp: {url: 'http://s/mcp'}, side_effects: none}\nagents:\n")],
        [("AF215", "warning", "tool.spare")],
    ),
    (
        "pattern-matches-nothing",
        [("    agents: [billing]\n", "    agents: [billing, 'x-*']\n")],
        [("AF201", "warning", "policy.approve-refunds")],
    ),
]


@pytest.mark.parametrize(("name", "edits", "expected"), GOVERNANCE, ids=[c[0] for c in GOVERNANCE])
def test_spec_checks(
    write_spec: WriteSpec,
    name: str,
    edits: list[tuple[str, str]],
    expected: list[tuple[str, str, str | None]],
) -> None:
    text = FULL
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    result = load_spec(write_spec(text), environ={})
    found = [(d.code, d.severity.value, d.address) for d in result.diagnostics]
    assert [f for f in found if f[0] != "AF219"] == expected
    assert [f[2] for f in found if f[0] == "AF219"] == NOT_ENFORCED_BY_CASE.get(name, NOT_ENFORCED)
    assert all(d.location is not None for d in result.diagnostics)


def test_unknown_provider_is_reported_with_suggestion(write_spec: WriteSpec) -> None:
    text = FULL + "target: {provider: dokcer}\n"
    result = load_spec(
        write_spec(text), environ={}, providers=frozenset({"local", "docker", "kubernetes"})
    )
    found = [(d.code, d.hint) for d in result.diagnostics]
    assert [f for f in found if f[0] != "AF219"] == [("AF211", "did you mean 'docker'?")]
    assert [f[0] for f in found].count("AF219") == len(NOT_ENFORCED)  # FULL's own


def test_cycle_message_names_the_loop(write_spec: WriteSpec) -> None:
    extra = (
        "  a: {model: fast, delegates: [b]}\n  b: {model: fast, delegates: [c]}\n"
        "  c: {model: fast, delegates: [a]}\n"
    )
    result = load_spec(
        write_spec(BASE + extra + 'access: {roles: {u: ["invoke:*"]}}\n'), environ={}
    )
    assert [d.summary for d in result.diagnostics] == ["delegation cycle: a -> b -> c -> a"]


@pytest.mark.parametrize(
    ("edges", "loops"),
    [
        ({"a": ["b"], "b": []}, []),
        ({"a": ["a"]}, [["a", "a"]]),
        ({"a": ["b"], "b": ["a"], "c": ["a"]}, [["a", "b", "a"]]),
        ({"a": ["b", "c"], "b": ["a"], "c": ["a"]}, [["a", "b", "a"], ["a", "c", "a"]]),
        ({str(i): [str(i + 1)] for i in range(5000)} | {"5000": ["0"]}, "long"),
    ],
    ids=["dag", "self", "two", "shared-node", "long-chain-no-recursion-limit"],
)
def test_find_cycles(edges: dict[str, list[str]], loops: list[list[str]] | str) -> None:
    found = find_cycles(edges)
    if loops == "long":
        assert len(found) == 1 and len(found[0]) == 5002
    else:
        assert found == loops


def test_invoke_patterns_reach_agents(write_spec: WriteSpec) -> None:
    text = BASE + "  support-a: {model: fast}\n  support-b: {model: fast}\n"
    text += 'access:\n  roles:\n    users: ["invoke:triage", "invoke:support-*"]\n'
    assert load_spec(write_spec(text), environ={}).diagnostics == []


def test_secret_urls_are_not_parsed(write_spec: WriteSpec) -> None:
    text = (
        BASE
        + ACCESS
        + "runtime: {store: {url: '${secret.DB_URL}'}, bus: {url: '${secret.NATS'}}}\n"
    )
    text = text.replace("'${secret.NATS'}}}", "'${secret.NATS}'}}")
    result = load_spec(write_spec(text), environ={})
    assert result.diagnostics == []
    assert set(result.secrets) == {"DB_URL", "NATS"}


def test_a_definition_error_is_not_followed_by_usage_noise(write_spec: WriteSpec) -> None:
    path = write_spec(
        BASE + ACCESS + "include: [more.yaml]\n",
        **{"more.yaml": "agents:\n  triage: {model: fast}\n"},
    )
    result = load_spec(path, environ={})
    assert [d.code for d in result.diagnostics] == ["AF012"]


@pytest.mark.parametrize(
    ("tools", "expected"),
    [
        ('["agent.triage", "memory.notes", "kb"]', []),
        ('["agent.*", "memory.*"]', []),
        ('["agent.triag"]', [("AF201", "error", "policy.p")]),
        ('["memory.nots"]', [("AF201", "error", "policy.p")]),
        ('["agent.x-*"]', [("AF201", "warning", "policy.p")]),
    ],
    ids=["named", "globbed", "unknown-agent", "unknown-store", "pattern-matches-nothing"],
)
def test_policies_name_delegations_and_memory_stores_with_their_prefix(
    write_spec: WriteSpec, tools: str, expected: list[tuple[str, str, str]]
) -> None:
    extra = f"policies:\n  p: {{tools: {tools}, effect: deny, when: 'args.x > 1'}}\n"
    found = diagnostics(write_spec, "", access=ACCESS + extra)
    assert [f for f in found if f[0] != "AF219"] == expected


def test_an_approver_role_without_approve_is_warned(write_spec: WriteSpec) -> None:
    policy = (
        "policies:\n  hold:\n    tools: [kb]\n    effect: require_approval\n"
        "    approvers: [users, leads]\n"
    )
    access = 'access:\n  roles:\n    users: ["invoke:triage"]\n    leads: ["approve:hold"]\n'
    result = load_spec(write_spec(BASE + policy + access), environ={})
    found = [(d.code, d.severity.value, d.summary) for d in result.diagnostics if d.code == "AF217"]
    assert found == [
        (
            "AF217",
            "warning",
            "role 'users' approves policy 'hold' but holds no approve:hold, so its members"
            " cannot decide the calls it holds",
        )
    ]


@pytest.mark.parametrize(
    ("cron", "timezone", "fires"),
    [
        ("0 0 30 2 *", "UTC", False),  # February 30
        ("0 0 31 4 *", "Europe/Berlin", False),  # April has 30 days
        ("0 9 30 2 MON", "UTC", False),  # both fields must match: still February 30
        ("0 0 29 2 *", "UTC", True),  # the next leap year
        ("0 9 13 * FRI", "UTC", True),  # a Friday the 13th comes every year or so
        ("0 9 * * MON", "Pacific/Auckland", True),
    ],
    ids=["feb-30", "apr-31", "feb-30-monday", "feb-29", "friday-13th", "weekly"],
)
def test_a_cron_that_never_fires_is_warned_at_the_cron(
    write_spec: WriteSpec, cron: str, timezone: str, fires: bool
) -> None:
    schedule = f'schedules:\n  yearly: {{agent: triage, timezone: {timezone}, cron: "{cron}"}}\n'
    result = load_spec(write_spec(BASE_SPEC + schedule), environ={})
    found = [d for d in result.diagnostics if d.code == "AF221"]
    assert result.ok
    if fires:
        assert found == []
        return
    [warning] = found
    assert warning.severity.value == "warning" and warning.address == "schedule.yearly"
    assert warning.summary == (
        f"schedule 'yearly' never fires: no time in the next 10 years matches cron '{cron}'"
    )
    assert warning.location is not None
    line = (BASE_SPEC + schedule).splitlines()[warning.location.line - 1]
    assert line[warning.location.column - 1 :].startswith(f'"{cron}"')  # at the cron itself
    assert warning.hint is not None and "February 30" in warning.hint
