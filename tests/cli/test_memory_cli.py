"""``agentform memory``: list, show, search, export/import, forget and denials on SQLite."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentform.cli import cli
from agentform.runtime.store.memory.config import StoreConfig
from agentform.runtime.store.memory.service import Memory, MemoryDenied

STORES: dict[str, dict[str, Any]] = {
    "conversations": {"kind": "session", "scope": "conversation", "ttl": "7d"},
    "customer-facts": {
        "kind": "long_term",
        "scope": "customer",
        "retention": "365d",
        "redact": ["email"],
    },
    "board": {"kind": "shared", "scope": "global", "ttl": "14d", "access": {"write": ["billing"]}},
}

FACTS = {
    "customer:acme": [
        "Acme is on the enterprise plan with priority support",
        "Acme asked for a refund of order 42 because the gripper arrived broken",
        "Acme prefers contact by email at ops@acme.example",
    ],
    "customer:globex": [
        "Globex asked about a refund once",
        "Globex runs twelve robots in their Springfield warehouse",
        "Globex renews their contract every March",
        "Globex wants invoices in euros",
    ],
}


def configs() -> dict[str, StoreConfig]:
    return {name: StoreConfig.from_values(name, values) for name, values in STORES.items()}


def write_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    agent = {"model": "fast", "instructions": "Help the customer.", "memory": list(STORES)}
    spec = {
        "version": 1,
        "project": "demo",
        "models": {"fast": {"provider": "scripted", "script": "scripts/rules.yaml"}},
        "memory": STORES,
        "agents": {"triage": agent, "billing": agent},
    }
    (root / "agentform.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    (root / "scripts").mkdir(exist_ok=True)
    (root / "scripts" / "rules.yaml").write_text("rules:\n  - reply: Hello.\n", encoding="utf-8")
    return root


def open_memory(root: Path) -> Memory:
    return Memory(f"sqlite:///{root}/.agentform/runtime.db", configs(), migrate=True)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A project whose stores hold facts about two customers, a conversation and shared keys."""
    root = write_project(tmp_path / "one")
    memory = open_memory(root)
    try:
        for scope, texts in FACTS.items():
            for body in texts:
                memory.add("customer-facts", scope, body)
        memory.add("customer-facts", "customer:acme", "Acme's plan renews in May", key="renewal")
        memory.add("conversations", "conversation:c-1", "Where is my refund?", role="user")
        memory.add("conversations", "conversation:c-1", "It is on its way.", role="assistant")
        memory.put("board", "global", "outage", {"active": True}, expected_version=0)
        memory.put("board", "customer:acme", "escalated", True, expected_version=0)
        with pytest.raises(MemoryDenied):
            memory.put("board", "global", "outage", False, expected_version=None, agent="triage")
    finally:
        memory.close()
    yield root


def run(
    root: Path, *args: str, input: str | None = None, env: Mapping[str, str] | None = None
) -> Result:
    command, rest = args[0], list(args[1:])
    return CliRunner().invoke(
        cli, ["--no-color", "memory", command, "--spec", str(root), *rest], input=input, env=env
    )


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    assert result.exception is None
    return result


def data(root: Path, *args: str) -> Any:
    """The JSON a command prints with --json."""
    return json.loads(ok(run(root, *args, "--json")).stdout)


def sizes(root: Path) -> dict[str, int]:
    return {s["name"]: s["entries"] for s in data(root, "list")}


def failed(result: Result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.stderr


def test_group_help_points_to_docs(project: Path) -> None:
    result = ok(CliRunner().invoke(cli, ["memory", "--help"]))
    assert "docs/memory.md" in result.output
    for command in ("list", "show", "search", "export", "import", "forget", "denials"):
        assert command in result.output
        assert ok(CliRunner().invoke(cli, ["memory", command, "--help"])).output


def test_list_every_store(project: Path) -> None:
    out = ok(run(project, "list")).stdout
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert set(rows) == {"board", "conversations", "customer-facts"}
    assert rows["customer-facts"][1:4] == ["long_term", "customer", "8"]
    assert rows["conversations"][1:4] == ["session", "conversation", "2"]
    assert "retention 365d" in out and "ttl 7d" in out
    listed = {s["name"]: s for s in data(project, "list")}
    assert listed["board"]["entries"] == 2 and listed["board"]["ttl"] == "14d"
    assert listed["customer-facts"]["bytes"] > 0
    scoped = data(project, "list", "--scope", "customer:acme")
    assert {s["name"]: s["entries"] for s in scoped} == {
        "board": 1,
        "conversations": 0,
        "customer-facts": 4,
    }


def test_list_one_store_newest_first(project: Path) -> None:
    out = ok(run(project, "list", "customer-facts")).stdout
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["ID", "SCOPE", "KEY", "ROLE/AGENT", "UPDATED"]
    ids = [int(line.split()[0]) for line in lines[1:]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 8
    assert "renewal" in lines[1] and "[REDACTED:email]" in out and "ops@acme" not in out
    assert all(len(line) <= 200 for line in lines)
    found = data(project, "list", "customer-facts", "--scope", "customer:globex", "--limit", "2")
    assert len(found) == 2 and {e["scope"] for e in found} == {"customer:globex"}
    assert found[0]["id"] > found[1]["id"]
    turns = data(project, "list", "conversations")
    assert [t["role"] for t in turns] == ["assistant", "user"]
    empty = ok(run(project, "list", "customer-facts", "--scope", "customer:nobody")).stdout
    assert "no entries under customer:nobody" in empty


def test_show_by_id_and_by_key(project: Path) -> None:
    entries = data(project, "list", "customer-facts")
    refund = next(e for e in entries if "gripper" in e["text"])
    out = ok(run(project, "show", "customer-facts", str(refund["id"]))).stdout
    assert f"id       {refund['id']}" in out and "customer:acme" in out
    assert out.rstrip().endswith(refund["text"])
    shown = data(project, "show", "customer-facts", str(refund["id"]))
    assert shown["text"] == refund["text"] and shown["bytes"] > 0
    by_key = ok(run(project, "show", "customer-facts", "renewal", "--scope", "customer:acme"))
    assert "renews in May" in by_key.stdout and "key      renewal" in by_key.stdout
    board = data(project, "show", "board", "outage", "--scope", "global")
    assert board["value"] == {"active": True} and board["version"] == 1
    failed(run(project, "show", "customer-facts", "renewal"), "give --scope")
    missing = run(project, "show", "customer-facts", "renewal", "--scope", "customer:globex")
    failed(missing, "no entry 'renewal' under customer:globex")
    failed(run(project, "show", "customer-facts", "9999"), "no entry '9999'")
    # an id under another scope key is not found when --scope names a different one
    failed(run(project, "show", "customer-facts", str(refund["id"]), "--scope", "customer:globex"))


def test_search_ranks_best_first_with_scores(project: Path) -> None:
    hits = data(project, "search", "customer-facts", "refund broken gripper")
    assert len(hits) == 2
    assert "gripper" in hits[0]["entry"]["text"] and "Globex" in hits[1]["entry"]["text"]
    assert hits[0]["score"] > hits[1]["score"]
    out = ok(run(project, "search", "customer-facts", "refund broken gripper")).stdout
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["#", "SCORE", "ID", "SCOPE"]
    assert lines[1].split()[0] == "1" and "gripper" in lines[1]
    assert float(lines[1].split()[1]) == pytest.approx(hits[0]["score"], abs=1e-6)
    scoped = data(project, "search", "customer-facts", "refund", "--scope", "customer:globex")
    assert [h["entry"]["scope"] for h in scoped] == ["customer:globex"]
    limited = data(project, "search", "customer-facts", "refund", "--limit", "1")
    assert len(limited) == 1
    assert "no entries match" in ok(run(project, "search", "customer-facts", "zebra")).stdout


def test_export_import_round_trip(project: Path, tmp_path: Path) -> None:
    dump = tmp_path / "memory.jsonl"
    result = ok(run(project, "export", "--output", str(dump)))
    assert "exported 12 entries" in result.stderr
    assert not (tmp_path / "memory.jsonl.tmp").exists()
    lines = dump.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 12 and all(json.loads(line)["store"] for line in lines)
    to_stdout = ok(run(project, "export", "customer-facts", "--scope", "customer:acme"))
    assert len(to_stdout.stdout.splitlines()) == 4 and "exported 4 entries" in to_stdout.stderr

    other = write_project(tmp_path / "two")
    first = ok(run(other, "import", str(dump))).stdout
    assert "imported 12 entries, skipped 0" in first
    again = ok(run(other, "import", str(dump))).stdout
    assert "imported 0 entries, skipped 12" in again
    listed = sizes(other)
    assert listed == {"board": 2, "conversations": 2, "customer-facts": 8}
    board = data(other, "show", "board", "outage", "--scope", "global")
    assert board["value"] == {"active": True}

    third = write_project(tmp_path / "three")
    piped = ok(run(third, "import", "-", "--into", "customer-facts", input=to_stdout.stdout))
    assert "imported 4 entries" in piped.stdout


def test_import_bad_line_writes_nothing(project: Path, tmp_path: Path) -> None:
    good = ok(run(project, "export", "customer-facts")).stdout.splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([good[0], good[1], "{not json", good[2]]) + "\n", encoding="utf-8")
    other = write_project(tmp_path / "two")
    failed(run(other, "import", str(bad)), "line 3")
    wrong_scope = tmp_path / "scope.jsonl"
    row = json.loads(good[0]) | {"scope": "acme"}
    wrong_scope.write_text(good[0] + "\n" + json.dumps(row) + "\n", encoding="utf-8")
    failed(run(other, "import", str(wrong_scope)), "line 2", "invalid scope key")
    listed = data(other, "list")
    assert all(s["entries"] == 0 for s in listed)
    failed(run(other, "import", str(bad), "--into", "nope"), "no memory store named 'nope'")


def test_interrupted_export_leaves_no_file(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentform.runtime.store.memory import admin

    def broken(*args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        yield {"store": "customer-facts", "text": "first"}
        raise KeyboardInterrupt

    monkeypatch.setattr(admin, "export_rows", broken)
    dump = tmp_path / "memory.jsonl"
    result = run(project, "export", "--output", str(dump))
    assert result.exit_code == 1
    assert not dump.exists() and not (tmp_path / "memory.jsonl.tmp").exists()


def test_forget_with_yes_removes_only_that_customer(project: Path) -> None:
    out = ok(run(project, "forget", "--scope", "customer:acme", "--yes")).stdout
    assert "deleted 4 entries from customer-facts" in out
    assert "deleted 1 entry from board" in out
    assert "forgot customer:acme: 5 entries deleted" in out
    listed = sizes(project)
    assert listed == {"board": 1, "conversations": 2, "customer-facts": 4}
    left = data(project, "list", "customer-facts")
    assert {e["scope"] for e in left} == {"customer:globex"}
    again = ok(run(project, "forget", "--scope", "customer:acme", "--yes")).stdout
    assert "nothing is kept under customer:acme" in again


def test_forget_asks_and_named_stores(project: Path) -> None:
    declined = run(project, "forget", "--scope", "customer:acme", input="n\n")
    assert declined.exit_code == 1
    assert "customer-facts: 4 entries" in declined.stdout and "board: 1 entry (" in declined.stdout
    assert "Nothing was deleted." in declined.stdout
    listed = sizes(project)
    assert listed["customer-facts"] == 8 and listed["board"] == 2
    accepted = ok(run(project, "forget", "board", "--scope", "customer:acme", input="y\n")).stdout
    assert "deleted 1 entry from board" in accepted and "customer-facts" not in accepted
    listed = sizes(project)
    assert listed["customer-facts"] == 8 and listed["board"] == 1


def test_denials(project: Path) -> None:
    found = data(project, "denials")
    assert len(found) == 1
    assert found[0]["store"] == "board" and found[0]["agent"] == "triage"
    out = ok(run(project, "denials")).stdout
    assert "AGENT" in out.splitlines()[0] and "may not write memory 'board'" in out


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("list", "nope"), ("store named 'nope'", "stores: board, conversations, customer-facts")),
        (("show", "nope", "1"), ("no memory store named 'nope'",)),
        (("search", "nope", "refund"), ("no memory store named 'nope'",)),
        (("export", "nope"), ("no memory store named 'nope'",)),
        (("forget", "nope", "--scope", "user:alice", "--yes"), ("no memory store named 'nope'",)),
        (("list", "customer-facts", "--scope", "acme"), ("invalid scope key 'acme'", "KIND:KEY")),
        (("search", "customer-facts", "x", "--scope", "customer:"), ("invalid scope key",)),
        (("export", "--scope", "planet:earth"), ("invalid scope key", "customer:acme-42")),
        (("forget", "--scope", "everyone", "--yes"), ("invalid scope key 'everyone'",)),
    ],
)
def test_unknown_store_and_bad_scope(
    project: Path, args: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    failed(run(project, *args), *needles)


def test_invalid_spec_prints_diagnostics(tmp_path: Path) -> None:
    (tmp_path / "agentform.yaml").write_text(
        "version: 1\nproject: demo\nmemory:\n  facts: {kind: diary}\n", encoding="utf-8"
    )
    result = run(tmp_path, "list")
    failed(result, "the spec is invalid")


def test_store_url_override(project: Path, tmp_path: Path) -> None:
    elsewhere = f"sqlite:///{tmp_path}/elsewhere.db"
    listed = data(project, "list", "--store-url", elsewhere)
    assert all(s["entries"] == 0 for s in listed)
    by_env = run(project, "list", "--json", env={"AGENTFORM_STORE_URL": elsewhere})
    assert all(s["entries"] == 0 for s in json.loads(ok(by_env).stdout))
    assert (tmp_path / "elsewhere.db").exists()
    failed(run(project, "list", "--store-url", "nosuchdb://x"), "cannot open the memory store")


def test_works_before_apply(tmp_path: Path) -> None:
    fresh = write_project(tmp_path / "fresh")
    listed = data(fresh, "list")
    assert [s["entries"] for s in listed] == [0, 0, 0]
    assert data(fresh, "denials") == []


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(query=st.text(max_size=200))
def test_search_never_crashes(project: Path, query: str) -> None:
    result = CliRunner().invoke(
        cli,
        ["memory", "search", "--spec", str(project), "--json", "customer-facts", "--", query],
    )
    assert result.exit_code == 0, (query, result.output)
    assert isinstance(json.loads(result.stdout), list)


def test_spec_variables_are_set_as_for_apply(project: Path) -> None:
    spec = yaml.safe_load((project / "agentform.yaml").read_text())
    spec["variables"] = {"store_file": {"type": "string"}}
    spec["runtime"] = {"store": {"url": "sqlite:///${var.store_file}"}}
    (project / "agentform.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    without = run(project, "list")
    assert without.exit_code == 1 and "store_file" in without.output
    listed = data(project, "list", "--var", "store_file=.agentform/runtime.db")
    assert {s["name"]: s["entries"] for s in listed}["customer-facts"] == 8


def test_env_reads_that_environment_s_own_default_store(tmp_path: Path) -> None:
    """`--env prod` reads `.agentform/runtime-prod.db`, the store prod's engine uses, not the
    default environment's `runtime.db`."""
    root = write_project(tmp_path / "envs")
    spec = yaml.safe_load((root / "agentform.yaml").read_text(encoding="utf-8"))
    spec["environments"] = {"prod": {}}
    (root / "agentform.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    for file, text in (("runtime.db", "default's fact"), ("runtime-prod.db", "prod's fact")):
        memory = Memory(f"sqlite:///{root}/.agentform/{file}", configs(), migrate=True)
        try:
            memory.add("customer-facts", "customer:acme", text)
        finally:
            memory.close()
    default = data(root, "list", "customer-facts")
    prod = data(root, "list", "customer-facts", "--env", "prod")
    assert [e["text"] for e in default] == ["default's fact"]
    assert [e["text"] for e in prod] == ["prod's fact"]
