"""AF219: validate warns at every use of a setting the runtime does not enforce yet, and only there.

Each row is a whole spec; a line ending in ``# AF219 NAME`` is where the warning of the entry
``NAME`` of :mod:`agentform.contract.unenforced` must point. A spec without such a line must
draw no AF219 at all. Every spec here is otherwise clean, so any other diagnostic fails too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentform.cli import cli
from agentform.contract import unenforced
from agentform.contract.unenforced import UNENFORCED, Unenforced
from agentform.diagnostics import Severity
from agentform.spec import load_spec
from agentform.spec.checks.enforcement import CODE, SHOWN_PER_SETTING
from tests.conftest import WriteSpec

ROOT = Path(__file__).resolve().parents[2]
PROVIDERS = frozenset({"local", "docker", "kubernetes"})
MARK = re.compile(r"#\s*AF219\s+([A-Z_]+)\s*$")

HEAD = """\
version: 1
project: demo
models:
  fast: {provider: scripted, script: scripts/rules.yaml}
tools:
  kb: {mcp: {command: [python, kb.py]}, side_effects: none}
  refunds: {mcp: {url: "http://billing/mcp"}, side_effects: idempotent}
agents:
  triage: {model: fast, tools: [kb]}
  billing: {model: fast, tools: [refunds]}
"""
ROLES = """\
access:
  roles:
    users: ["invoke:triage", "invoke:billing", "approve:*"]
"""
APPROVAL = """\
policies:
  refund-approval:
    agents: [billing]
    tools: [refunds]
    effect: require_approval
    approvers: [users]
"""


def _role(permission: str, mark: str) -> str:
    return ROLES + f'    extra:\n      - "{permission}"  # AF219 {mark}\n'


USED = [
    (
        "docker-config",
        HEAD + "target:\n  provider: docker\n  config:  # AF219 DOCKER_CONFIG\n"
        "    host: unix:///var/run/docker.sock\n" + ROLES,
    ),
    (
        "docker-without-config",
        HEAD + "target:\n  provider: docker  # AF219 DOCKER_CONFIG\n" + ROLES,
    ),
    (
        "kubernetes-config",
        HEAD + "target:\n  provider: kubernetes\n  config:  # AF219 KUBERNETES_CONFIG\n"
        "    namespace: support\n" + ROLES,
    ),
    (
        "environment-overlay",
        HEAD
        + ROLES
        + "target: {provider: local}\n"
        + "environments:\n  prod:\n    target:\n      provider: docker  # AF219 DOCKER_CONFIG\n",
    ),
]

NOT_USED = [
    ("nothing", HEAD + ROLES),
    # enforced on the agents' A2A servers
    ("permission-cancel", HEAD + ROLES + '    stop: ["cancel:triage"]\n'),
    ("permission-read-tasks", HEAD + ROLES + '    look: ["read:tasks"]\n'),
    ("permission-admin", HEAD + ROLES + '    root: ["admin:*"]\n'),
    # approve: is enforced: its holders decide the calls that policy holds, over A2A
    ("permission-approve", HEAD + APPROVAL + ROLES + '    leads: ["approve:refund-approval"]\n'),
    ("policy-require-approval", HEAD + APPROVAL + ROLES),  # held for agentform approvals
    (
        "policy-deny-with-when",  # enforced by the workers' policy decision point
        HEAD
        + "policies:\n  ceiling:\n    tools: [refunds]\n    effect: deny\n"
        + "    when: args.amount > 1000\n"
        + ROLES,
    ),
    ("allow-policy", HEAD + "policies:\n  ok: {tools: [kb], effect: allow}\n" + ROLES),
    # nobody lists kb and refunds together: an unconditional deny that never meets AF208
    (
        "deny-without-when",
        HEAD + "policies:\n  no-kb: {agents: [billing], tools: [kb], effect: deny}\n" + ROLES,
    ),
    ("invoke-permissions", HEAD + ROLES.replace('"invoke:billing"', '"invoke:*"')),
    # kept out of plans, state and records (agentform.contract.sensitive)
    (
        "sensitive-variable",
        HEAD.replace("models:\n", "variables:\n  pin: {default: x, sensitive: true}\nmodels:\n")
        + ROLES,
    ),
    ("default-stream-prefix", HEAD + "runtime: {bus: {stream_prefix: agentform}}\n" + ROLES),
    ("local-target", HEAD + "target: {provider: local}\n" + ROLES),
    # enforced by the workers (agentform.runtime.policy.breaker)
    (
        "circuit-breaker",
        HEAD.replace(
            "  billing: {model: fast, tools: [refunds]}\n",
            "  billing:\n    model: fast\n    tools: [refunds]\n"
            "    circuit_breaker: {max_identical_calls: 2, max_calls_per_minute: 30}\n",
        )
        + ROLES,
    ),
    # fired by the engine that holds the scheduler lease (agentform.runtime.scheduler)
    (
        "schedule",
        HEAD + ROLES + 'schedules:\n  daily:\n    agent: triage\n    cron: "0 9 * * MON"\n',
    ),
    (
        "disabled-schedule",
        HEAD + ROLES + "schedules:\n  daily: {agent: triage, interval: 1h, enabled: false}\n",
    ),
]


def _expected(text: str) -> list[tuple[str, int]]:
    """(message, line) of every ``# AF219 NAME`` mark, in line order."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        mark = MARK.search(line)
        if mark:
            entry = getattr(unenforced, mark.group(1))
            assert isinstance(entry, Unenforced), mark.group(1)
            found.append((entry.message, number))
    return found


def _af219(write_spec: WriteSpec, text: str) -> list[tuple[str, int]]:
    envs = re.findall(r"^  (\w+):\n", text.partition("environments:\n")[2], re.M)
    seen: dict[tuple[str, int], None] = {}
    for env in [None, *envs]:
        result = load_spec(write_spec(text), env=env, environ={}, providers=PROVIDERS)
        others = [f"{d.code} {d.summary}" for d in result.diagnostics if d.code != CODE]
        assert others == [], "the spec of this row must be clean but for AF219"
        for d in result.diagnostics:
            assert d.severity is Severity.WARNING
            assert d.location is not None and d.location.file.endswith("agentform.yaml")
            seen.setdefault((d.summary, d.location.line), None)
    return sorted(seen, key=lambda found: found[1])


@pytest.mark.parametrize("text", [c[1] for c in USED], ids=[c[0] for c in USED])
def test_each_use_is_warned_at_its_line(write_spec: WriteSpec, text: str) -> None:
    expected = _expected(text)
    assert expected, "a row of USED must mark at least one line"
    assert _af219(write_spec, text) == expected


@pytest.mark.parametrize("text", [c[1] for c in NOT_USED], ids=[c[0] for c in NOT_USED])
def test_no_warning_without_a_use(write_spec: WriteSpec, text: str) -> None:
    assert _expected(text) == []
    assert _af219(write_spec, text) == []


def test_every_entry_is_reachable() -> None:
    """Each entry of UNENFORCED is triggered by some row of USED: none is dead."""
    reached = {message for _, text in USED for message, _ in _expected(text)}
    assert [e.field for e in UNENFORCED if e.message not in reached] == []


@pytest.mark.parametrize("entry", UNENFORCED, ids=[f"{e.field} ({e.step})" for e in UNENFORCED])
def test_entries_say_what_and_when(entry: Unenforced) -> None:
    assert entry.message and entry.message[0].islower() and not entry.message.endswith(".")
    assert "this version" in entry.message
    assert re.fullmatch(r"step \d+: [a-z0-9 ]+", entry.step)


def test_hint_names_the_step_and_the_way_out(write_spec: WriteSpec) -> None:
    text = HEAD + APPROVAL + ROLES + "target: {provider: docker}\n"
    result = load_spec(write_spec(text), environ={}, providers=PROVIDERS)
    [warning] = result.diagnostics
    assert warning.summary == unenforced.DOCKER_CONFIG.message
    assert warning.hint == (
        "to be enforced by milestone 2, step 6: docker provider; once you have"
        " read this warning, validate --strict --allow AF219 accepts it"
    )


def test_unenforced_module_is_pure() -> None:
    source = (ROOT / "agentform" / "contract" / "unenforced.py").read_text()
    imports = re.findall(r"^(?:from|import) ([\w.]+)", source, re.M)
    assert [m for m in imports if m.startswith("agentform")] == []


# -- the command line: an example with unenforced policies ----------------------------------


def _validate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, ["--no-color", "validate", str(ROOT / "examples" / "support-desk"), *args]
    )
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("args", "exit_code"),
    [((), 0), (("--strict",), 1), (("--strict", "--allow", "AF219"), 0)],
    ids=["plain", "strict", "strict-allow"],
)
def test_support_desk_warns_only_of_its_placeholder_targets(
    args: tuple[str, ...], exit_code: int
) -> None:
    code, out = _validate(*args)
    assert code == exit_code, out
    # every policy, access permission and circuit breaker of it is enforced: what is left is
    # the staging and prod environments' docker and kubernetes targets
    warned = [line for line in out.splitlines() if line.startswith("warning[AF219]")]
    assert warned and all("provider is a placeholder" in line for line in warned), warned
    assert "read:" not in out
    assert "policies.yaml:8:" not in out  # refund-approval: held for agentform approvals
    # refund-ceiling (a deny with when) and triage-never-refunds are enforced by the workers
    assert "policies.yaml:16:" not in out
    assert "policies.yaml:24:" not in out


def test_allow_accepts_only_its_code(write_spec: WriteSpec) -> None:
    write_spec(
        """\
        version: 1
        project: demo
        models:
          fast: {provider: scripted, script: scripts/rules.yaml}
        agents:
          triage: {model: fast}
          lonely: {model: fast}
        target: {provider: docker}
        access:
          roles:
            users: ["invoke:triage"]
        """
    )
    runner = CliRunner()
    plain = runner.invoke(cli, ["--no-color", "validate"])
    assert plain.exit_code == 0, plain.output
    assert "warning[AF204]" in plain.output and "warning[AF219]" in plain.output
    allowed = runner.invoke(cli, ["--no-color", "validate", "--strict", "--allow", "AF219"])
    assert allowed.exit_code == 1, "AF204 is not allowed: --strict still fails on it"
    assert "warning[AF219]" in allowed.output, "an allowed warning is still printed"
    both = ["--no-color", "validate", "--strict", "--allow", "AF219", "--allow", "af204"]
    assert runner.invoke(cli, both).exit_code == 0


def test_allow_refuses_an_unknown_code(write_spec: WriteSpec) -> None:
    write_spec()
    result = CliRunner().invoke(cli, ["--no-color", "validate", "--strict", "--allow", "AF999"])
    assert result.exit_code == 2
    assert "unknown diagnostic code 'AF999'" in result.output


def test_allow_is_documented() -> None:
    result = CliRunner().invoke(cli, ["validate", "--help"])
    assert "--allow CODE" in result.output
    for page in ("diagnostics.md", "ci.md"):
        assert "--strict --allow AF219" in (ROOT / "docs" / page).read_text()


def test_every_entry_is_in_the_docs_table() -> None:
    text = (ROOT / "docs" / "diagnostics.md").read_text()
    section = text.partition("## AF219: what is not enforced yet")[2].partition("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert len(rows) == len(UNENFORCED)
    for row, entry in zip(rows, UNENFORCED, strict=True):
        assert row.startswith(f"| `{entry.field}` |") and row.endswith(f"| {entry.step} |"), row


def test_many_uses_of_one_setting_are_counted_after_the_first_few(
    write_spec: WriteSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """25 uses of one setting: the first SHOWN_PER_SETTING located one by one, then one
    warning at the next use that counts the rest; other settings keep their own warnings.
    (No setting left unenforced can be used 25 times in one spec: the uses are made up, at
    25 agents' keys, while the target's warning is real.)"""
    from agentform.spec.checks import enforcement

    agents = "".join(f"  a{i}: {{model: fast}}\n" for i in range(25))
    text = HEAD + agents + APPROVAL + ROLES + "target: {provider: docker}\n"
    real = enforcement.uses
    made_up = Unenforced(
        "agents.*.made_up", "made-up settings are not read by this version", "step 9: never"
    )

    def uses(spec: object) -> list[enforcement.Use]:
        return [*real(spec), *((made_up, ("agents", f"a{i}"), True) for i in range(25))]  # type: ignore[arg-type]

    monkeypatch.setattr(enforcement, "uses", uses)
    result = load_spec(write_spec(text), environ={}, providers=PROVIDERS)
    found = [d for d in result.diagnostics if d.code == CODE]
    counted = [d for d in found if "made-up" in d.summary]
    assert len(counted) == SHOWN_PER_SETTING + 1
    lines = text.splitlines()
    shown = [d.location.line for d in counted if d.location]
    assert [lines[n - 1].split(":")[0].strip() for n in shown] == [f"a{i}" for i in range(11)]
    assert counted[-1].summary.startswith("15 more uses of agents.*.made_up from here on")
    assert [d for d in found if "docker" in d.summary]  # its own warning
    assert all(d.severity is Severity.WARNING for d in found)
