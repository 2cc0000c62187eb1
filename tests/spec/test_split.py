"""Parsing one large file in parts on several CPUs gives exactly what parsing it in one piece
gives (values, positions, which strings hold ``${``, diagnostics), or is refused and the file
parsed in one piece: never a different result."""

from __future__ import annotations

import random
import signal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentform.spec import build_spec, load_spec, read_spec
from agentform.spec import forking as forking_module
from agentform.spec import split as split_module
from agentform.spec.document import parse_document
from agentform.spec.sourcemap import SourceMap
from agentform.spec.split import Cuts, padded, parse_large, parse_parts, plan_cuts

FILE = "big.yaml"


def _agents_text(count: int, seed: int = 0, *, after: str = "") -> str:
    """A spec whose ``agents`` section is most of the file, with every kind of value."""
    rng = random.Random(seed)
    out = [
        "version: 1",
        "project: big",
        "variables:",
        "  region: {default: eu}",
        "models:",
        "  fast: {provider: scripted, script: scripts/rules.yaml}",
        "tools:",
        "  kb: {mcp: {command: [python, kb.py]}, side_effects: none}",
        "agents:",
    ]
    for i in range(count):
        out.append(f"  agent-{i:04d}:  # agent {i}")
        out.append("    model: fast")
        kind = rng.randrange(4)
        if kind == 0:
            out += ["    instructions: |", f"      Help in ${{var.region}} ({i})", "      {{ x }}"]
        elif kind == 1:
            out += [f'    instructions: "Quoted {i}', '      on two lines ${var.region}"']
        elif kind == 2:
            out += [f"    instructions: plain {i}", "      continued"]
        else:
            out += ["    instructions: >-", f"      Folded {i}", "", "      and more"]
        out.append(f"    tools: [kb]{'  # t' if i % 3 == 0 else ''}")
        out.append(f"    replicas: {1 + i % 4}")
        if i % 5 == 0:
            out += ["", "# a comment at column 0 between entries", ""]
        if i % 7 == 0:
            out += ["    limits:", "      max_steps: 20", "      timeout: 2m", "      on: yes"]
    out += ["access:", "  roles:", '    users: ["invoke:agent-*"]']
    return "\n".join(out) + "\n" + after


def _positions(smap: SourceMap) -> tuple[dict[Any, Any], dict[Any, Any]]:
    smap.settle()

    def flat(found: dict[Any, Any]) -> dict[Any, Any]:
        return {p: (m.name, m.line, m.column, getattr(m, "index", None)) for p, m in found.items()}

    return flat(smap.values), flat(smap.keys)


def _one_piece(text: str) -> tuple[Any, list[Any], SourceMap]:
    smap = SourceMap()
    value, diagnostics = parse_document(text, FILE, smap)
    return value, diagnostics, smap


def _assert_same_as_one_piece(text: str, cuts: Cuts) -> bool:
    """Parse in parts; if that is accepted it must equal the one-piece parse. True if accepted."""
    smap = SourceMap()
    value = parse_parts(text, FILE, smap, cuts)
    expected, diagnostics, whole = _one_piece(text)
    if value is None:
        assert not smap.values and not smap.keys and not smap.deferred  # left untouched
        return False
    assert not diagnostics
    assert value == expected
    assert list(value) == list(expected)  # the order of keys too
    assert smap.templated == whole.templated
    assert smap.texts == whole.texts
    # one lookup at a time (deferred positions computed a piece at a time), on a copy ...
    looked = smap.copy()
    for path in list(whole.values)[:: max(1, len(whole.values) // 400)]:
        assert looked.value(path) == whole.value(path), path
        assert looked.key(path) == whole.key(path), path
    assert _positions(looked) == _positions(whole)
    # ... and all at once
    assert _positions(smap) == _positions(whole)
    return True


@pytest.mark.parametrize("parts", [2, 3, 4])
def test_parts_in_forked_children_match_one_piece(parts: int) -> None:
    text = _agents_text(400, after="schedules:\n  nightly: {cron: '0 2 * * *', agent: x}\n")
    cuts = plan_cuts(text, parts)
    assert cuts is not None and cuts.key == "agents" and len(cuts.offsets) == parts - 1
    assert _assert_same_as_one_piece(text, cuts)


def test_positions_of_a_later_part_are_computed_only_when_asked() -> None:
    text = _agents_text(300, after="policies:\n  p1: {effect: allow}\n")
    cuts = plan_cuts(text, 3)
    assert cuts is not None
    smap = SourceMap()
    assert parse_parts(text, FILE, smap, cuts) is not None
    _, _, whole = _one_piece(text)
    assert len(smap.deferred) == 2
    assert ("agents", "agent-0299", "tools", 0) not in smap.values
    # a lookup in the last part computes the few lines of that one entry, and finds what the
    # one-piece parse finds
    for path in [
        ("agents", "agent-0299", "tools", 0),
        ("agents", "agent-0250", "limits", "on"),
        ("agents", "agent-0201", "instructions"),
        ("access", "roles", "users"),
        ("policies", "p1", "effect"),
    ]:
        assert smap.value(path) == whole.value(path), path
        assert smap.key(path) == whole.key(path), path
    assert ("agents", "agent-0299", "model") in smap.values
    assert ("agents", "agent-0298", "model") not in smap.values  # its neighbour: not computed
    assert len(smap.deferred) == 2
    # a lookup in the first part computes nothing
    assert smap.value(("agents", "agent-0000", "model")) == whole.value(
        ("agents", "agent-0000", "model")
    )
    # the rest at once: every position as in one piece, the pieces computed alone included
    assert _positions(smap) == _positions(whole)
    assert not smap.deferred


def test_copies_compute_their_deferred_positions_independently() -> None:
    text = _agents_text(200)
    cuts = plan_cuts(text, 2)
    assert cuts is not None
    smap = SourceMap()
    assert parse_parts(text, FILE, smap, cuts) is not None
    copy = smap.copy()
    path = ("agents", "agent-0190", "model")
    assert smap.value(path) is not None and path in smap.values
    assert path not in copy.values
    assert copy.value(path) == smap.value(path)


def test_plan_cuts_refuses_what_it_cannot_cut_safely() -> None:
    text = _agents_text(50)
    assert plan_cuts(text, 1) is None
    assert plan_cuts(text.replace("model: fast", "model: &m fast", 1), 2) is None  # an anchor
    assert plan_cuts(text.replace("\n", "\r\n"), 2) is None
    assert plan_cuts("---\n" + text, 2) is None
    assert plan_cuts("%YAML 1.1\n---\n" + text, 2) is None
    assert plan_cuts("- a\n- b\n" * 1000, 2) is None  # a list at the top
    assert plan_cuts("agents:\n" + "  - name: x\n" * 1000, 2) is None  # a section holding a list
    assert plan_cuts("agents:\n  {" + "a: 1, " * 1000 + "}\n", 2) is None  # a flow mapping
    assert plan_cuts("agents: {}\n", 2) is None
    cuts = plan_cuts(text, 2)
    assert cuts is not None and text[cuts.offsets[0] - 1 : cuts.offsets[0] + 8] == "\n  agent-"


def test_padding_keeps_lines_columns_and_offsets() -> None:
    text = _agents_text(40)
    cuts = plan_cuts(text, 2)
    assert cuts is not None
    start = cuts.offsets[0]
    part = padded(text, "agents", start, len(text))
    assert len(part) == len(text) and part[start:] == text[start:]
    assert part.count("\n", 0, start) == text.count("\n", 0, start)
    with pytest.raises(ValueError, match="after the section"):
        padded("agents:\n", "agents", 3, 8)


@pytest.mark.parametrize(
    "case",
    [
        # a quoted string whose second line looks like an entry: open across the cut
        ('  agent-0020: "starts here\n  agent-0021: looks like an entry"\n', "open quote"),
        # a flow list open across the cut
        ("  agent-0020: [a,\n  agent-0021: b]\n", "open flow"),
        # the same name in two parts
        ("  agent-0001: {model: fast}\n", "duplicate"),
    ],
)
def test_unsafe_cuts_are_refused_and_one_piece_decides(case: tuple[str, str]) -> None:
    inserted, _ = case
    base = _agents_text(40)
    at = base.index("  agent-0030:")
    text = base[:at] + inserted + base[at:]
    second = text.index("\n  agent-0021") + 1 if "agent-0021" in inserted else at
    cuts = Cuts("agents", (second,))
    assert not _assert_same_as_one_piece(text, cuts)
    smap = SourceMap()
    value, diagnostics = parse_large(text, FILE, smap)
    expected, expected_diagnostics, whole = _one_piece(text)
    assert (value, diagnostics) == (expected, expected_diagnostics)
    assert _positions(smap) == _positions(whole)


def test_a_later_top_level_key_defined_twice_is_refused() -> None:
    text = _agents_text(60, after="version: 2\n")
    cuts = plan_cuts(text, 2)
    assert cuts is not None
    assert not _assert_same_as_one_piece(text, cuts)
    _, diagnostics, _ = _one_piece(text)
    assert [d.code for d in diagnostics] == ["AF002"]


def test_failed_or_missing_children_leave_the_work_here(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _agents_text(200)
    cuts = plan_cuts(text, 3)
    assert cuts is not None
    monkeypatch.setattr(forking_module.pickle, "dumps", lambda *a, **k: 1 / 0)
    assert _assert_same_as_one_piece(text, cuts)
    monkeypatch.setattr(split_module, "fork_call", lambda fn: None)
    assert _assert_same_as_one_piece(text, cuts)


@pytest.mark.skipif(not hasattr(signal, "SIGCHLD"), reason="POSIX signals")
def test_children_reaped_by_an_ignored_sigchld() -> None:
    text = _agents_text(100)
    cuts = plan_cuts(text, 2)
    assert cuts is not None
    previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        assert _assert_same_as_one_piece(text, cuts)
    finally:
        signal.signal(signal.SIGCHLD, previous)


_VALID_SHAPES = [0, 3, 4, 8, 9, 10, 12]


def _entry(draw: st.DrawFn, i: int, valid: bool) -> list[str]:
    """One entry of the section, drawn from the shapes that make cutting hard."""
    name = f"  n{i}:"
    shape = draw(st.sampled_from(_VALID_SHAPES) if valid else st.integers(0, 14))
    if shape >= 12:
        return [f'{name} "quoted', '    on two lines"', "    # a comment"]
    if shape >= 10:
        return [name, "    k: v"]
    if shape == 0:
        return [f"{name} plain"]
    if shape == 1:  # a quoted string whose next line looks like an entry
        return [f'{name} "a', f'  n{i}x: b"']
    if shape == 2:  # an open flow list
        return [f"{name} [a,", f"  n{i}y: b]"]
    if shape == 3:
        return [f"{name} |", "    text", "", "  # comment at the entry indentation"]
    if shape == 4:
        return [name, "    k: v", "    ${var.x}: x", "    l: [1, 2]"]
    if shape == 5:  # plain scalar continued at the entry indentation: an error
        return [f"{name} plain", f"  n{i}z more"]
    if shape == 6:
        return [f"{name} 'single", f"  n{i}w: quoted'"]
    if shape == 7:
        return [f"  n{draw(st.integers(0, i))}: duplicate?"]
    if shape == 8:
        return ["#  at column 0", f"{name} {{a: 1}}"]
    return [f"{name} 1", "    deeper: true"]


@st.composite
def _documents(draw: st.DrawFn) -> tuple[str, list[int]]:
    head = draw(st.sampled_from(["version: 1\nagents:\n", "a: 1\nagents:  # here\n"]))
    lines: list[str] = []
    valid = draw(st.booleans())
    for i in range(draw(st.integers(2, 14))):
        lines += _entry(draw, i, valid)
    tail = draw(st.sampled_from(["", "tail: 1\n", "agents: 2\n", "more:\n  x: 1\n"]))
    text = head + "\n".join(lines) + "\n" + tail
    starts = [i + 1 for i, c in enumerate(text) if c == "\n" and text[i + 1 : i + 3] == "  "]
    starts = [s for s in starts if text[s + 2 : s + 3].isalnum()][1:]  # not the first entry
    picked = draw(st.lists(st.sampled_from(starts), min_size=1, max_size=3)) if starts else []
    return text, sorted(set(picked))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_documents())
def test_any_cut_gives_the_one_piece_result_or_is_refused(document: tuple[str, list[int]]) -> None:
    text, offsets = document
    if not offsets:
        return
    original = split_module.fork_call
    split_module.fork_call = lambda fn: None  # parse the parts here: same checks, no forks
    try:
        _assert_same_as_one_piece(text, Cuts("agents", tuple(offsets)))
    finally:
        split_module.fork_call = original


def test_read_and_build_in_parts_match_one_piece(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "rules.yaml").write_text("rules: [{reply: hi}]\n")
    # environments after the agents: its overlay positions come from a later part
    overlay = "      agent-0290: {replicas: 9, tools: [kbx]}\n"
    text = _agents_text(300, after="environments:\n  prod:\n    agents:\n" + overlay)
    # an error in the last part: its location must be found through the deferred positions
    text = text.replace("# agent 280\n    model: fast", "# agent 280\n    model: slow")
    path = tmp_path / "agentform.yaml"
    path.write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(split_module, "MIN_PART_CHARS", 10_000)
    monkeypatch.setattr(split_module, "can_fork", lambda: True)
    monkeypatch.setattr(split_module, "usable_cpus", lambda: 3)
    raw = read_spec(path)
    assert raw.smap.deferred, "the file was not parsed in parts"
    parts = {env: build_spec(raw, env=env, environ={}) for env in (None, "prod")}
    monkeypatch.setattr(split_module, "MIN_PART_CHARS", 10**9)
    assert not read_spec(path).smap.deferred
    for env, built in parts.items():
        fresh = load_spec(path, env=env, environ={})
        assert built.diagnostics == fresh.diagnostics, env
        assert built.spec == fresh.spec
        codes = {d.code for d in built.diagnostics}
        assert "AF201" in codes or any("slow" in d.summary for d in built.diagnostics)
        assert any(
            d.location and d.location.line > text.count("\n", 0, len(text) // 2)
            for d in built.diagnostics
        )
    assert any("kbx" in d.summary for d in parts["prod"].diagnostics)


def test_meanwhile_runs_once_while_parts_are_parsed_or_after_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "agentform.yaml"
    path.write_text(_agents_text(200))
    calls: list[bool] = []
    monkeypatch.setattr(split_module, "MIN_PART_CHARS", 10**9)
    read_spec(path, meanwhile=lambda: calls.append(True))
    assert calls == [True]  # one piece: after reading
    monkeypatch.setattr(split_module, "MIN_PART_CHARS", 5_000)
    monkeypatch.setattr(split_module, "can_fork", lambda: True)
    monkeypatch.setattr(split_module, "usable_cpus", lambda: 2)
    seen: list[int] = []
    original = split_module.collect

    def collect(job: Any) -> Any:
        seen.append(len(calls))
        return original(job)

    monkeypatch.setattr(split_module, "collect", collect)
    raw = read_spec(path, meanwhile=lambda: calls.append(True))
    assert raw.smap.deferred and calls == [True, True] and seen == [2]  # before collecting


_SECTION_ENTRIES = [
    "  p0: {effect: allow}",
    '  p1: "a quoted string\n    p2: that only looks like an entry"',
    "  p2:\n    effect: deny\n    when: args.amount > 10\n# a comment at column 0\n    tools: [t]",
    "  'p 3': {effect: allow}",
    "  p4: |\n    block text\n\n    p5: not an entry either",
    "  p5: [a,\n    b]",
    "  p6:   # a comment after the key\n    effect: require_approval",
]


@pytest.mark.parametrize("order", [0, 1, 2], ids=["written", "reversed", "shuffled"])
def test_one_entry_of_another_section_is_located_without_the_section(order: int) -> None:
    """A lookup under ``policies`` in a later part computes that one entry from its own lines
    (the section stays deferred) and finds what the one-piece parse finds, whatever the order of
    the lookups; entries that cannot be told apart by their lines fall back to the section."""
    policies = "policies:\n" + "\n".join(_SECTION_ENTRIES) + "\n"
    text = _agents_text(300, after=policies + "schedules:\n  s: {agent: x}\n")
    cuts = plan_cuts(text, 3)
    assert cuts is not None
    smap = SourceMap()
    assert parse_parts(text, FILE, smap, cuts) is not None
    expected, _, whole = _one_piece(text)
    paths = [p for p in whole.values if p[:1] == ("policies",) and len(p) >= 2]
    paths = [paths, paths[::-1], random.Random(7).sample(paths, len(paths))][order]
    assert set(expected["policies"]) == {"p0", "p1", "p2", "p 3", "p4", "p5", "p6"}
    first = smap.copy()
    assert first.value(("policies", "p0", "effect")) == whole.value(("policies", "p0", "effect"))
    assert any(("policies",) in part.pieces for part in first.deferred)  # still deferred
    for path in paths:
        assert smap.value(path) == whole.value(path), path
        assert smap.key(path) == whole.key(path), path
    assert _positions(smap) == _positions(whole)
