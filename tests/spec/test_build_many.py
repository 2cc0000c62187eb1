"""Read once, build many: one read spec built for the base and each environment, in this
process or in forked workers, gives what loading from scratch gives, and is never changed."""

from __future__ import annotations

import copy
import os
import random
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from agentform.spec import build_spec, load_spec, read_spec
from agentform.spec import forking as forking_module
from agentform.spec import parallel as parallel_module
from agentform.spec.document import parse_document
from agentform.spec.interpolation import TemplateSyntaxError, _split_scan, split_template
from agentform.spec.parallel import build_targets
from agentform.spec.sourcemap import _LINE_BREAK, SourceMap, _end_of
from tests.conftest import BASE_SPEC, WriteSpec

ENVS = BASE_SPEC + (
    """\
variables:
  replicas: {type: integer, default: 1}
  tier: {default: standard}
environments:
  prod:
    variables: {replicas: {default: 4}}
    agents:
      triage: {memory: null, instructions: "Premium ${var.tier}", tools: &tools [kb]}
      extra:
        <<: {model: fast, replicas: "${var.replicas}"}
        tools: *tools
        instructions: "Extra ${var.tier} {{ x }}"
    memory: {notes: null}
    access: {roles: {extras: ["invoke:extra"]}}
  broken:
    agents: {triage: {replicas: lots, tools: [kbb]}}
  empty: {}
"""
)
TARGETS: list[str | None] = [None, "broken", "empty", "prod"]


def _state(raw: Any) -> Any:
    """Everything a build could change in a read spec, as comparable values."""
    smap = raw.smap
    return (
        copy.deepcopy(raw.document),
        dict(smap.values),
        dict(smap.keys),
        set(smap.templated),
        dict(smap.texts),
        list(raw.diagnostics),
        list(raw.files),
    )


def test_builds_from_one_read_match_fresh_loads(write_spec: WriteSpec) -> None:
    path = write_spec(ENVS)
    raw = read_spec(path)
    before = _state(raw)
    # environments first, then the base: a build must not leave anything behind for the next
    for env in [*reversed(TARGETS), *TARGETS]:
        built = build_spec(raw, env=env, environ={})
        fresh = load_spec(path, env=env, environ={})
        assert built.diagnostics == fresh.diagnostics, env
        assert built.spec == fresh.spec, env
        assert built.secrets == fresh.secrets
        assert _state(raw) == before, f"building {env!r} changed the read spec"
    assert {env: bool(load_spec(path, env=env, environ={}).ok) for env in TARGETS} == {
        None: True,
        "broken": False,
        "empty": True,
        "prod": True,
    }


def test_an_overlay_layer_locates_like_a_merged_copy(write_spec: WriteSpec) -> None:
    raw = read_spec(write_spec(ENVS))
    env = raw.document["environments"]["prod"]  # type: ignore[index]
    path = ("environments", "prod")
    layered = raw.smap.layered()
    merged = raw.smap.copy()
    for smap in (layered, merged):
        rebased = smap.rebase(path, (), within=env)
        smap.values.update(rebased.values)
        smap.keys.update(rebased.keys)
        smap.templated.update(rebased.templated)
    assert layered.base is raw.smap and len(layered.values) < len(raw.smap.values)
    probes = [*merged.values, *merged.keys, ("agents", "nobody", "tools", 3), ()]
    for p in probes:
        assert layered.value(p) == merged.value(p), p
        assert layered.key(p) == merged.key(p), p
    assert layered.templated == merged.templated
    flat = layered.copy_flat()
    assert flat.values == merged.values and flat.keys == merged.keys
    # scanning a layered map sees the base too
    assert layered.rebase(path, ()).values == merged.rebase(path, ()).values


@pytest.mark.parametrize(
    "text",
    [
        ENVS,
        # merge keys, aliases, a duplicate key, a non-scalar key, lists, a scalar overlay
        """\
base: &b {x: 1, y: [1, 2, {z: "${var.a}"}]}
environments:
  a:
    <<: *b
    y: [3]
    w: {<<: [*b, {q: 2}], x: 9}
  b:
    k: 1
    k: 2
    [1, 2]: 3
    list: [a, {b: c}, [d]]
  c: 3
  d: *b
""",
    ],
)
def test_rebase_of_the_overlay_value_equals_the_scan(text: str, tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(text)
    raw = read_spec(tmp_path / "s.yaml")
    assert raw.document is not None
    for name, value in raw.document["environments"].items():
        path = ("environments", name)
        scanned = raw.smap.rebase(path, ())
        walked = raw.smap.rebase(path, (), within=value)
        assert walked.values == scanned.values, name
        assert walked.keys == scanned.keys, name
        assert walked.templated == scanned.templated, name


@pytest.mark.parametrize("workers", [0, 1, 2, 3])
def test_build_targets_in_workers_match_sequential_builds(
    write_spec: WriteSpec, workers: int
) -> None:
    raw = read_spec(write_spec(ENVS))
    before = _state(raw)
    expected = [build_spec(raw, env=env, environ={}).diagnostics for env in TARGETS]
    builds = build_targets(raw, TARGETS, environ={}, workers=workers)
    assert builds.diagnostics == expected
    assert builds.first.diagnostics == expected[0]
    assert builds.first.spec == load_spec(write_spec(ENVS), environ={}).spec
    assert _state(raw) == before


def test_a_failed_worker_is_built_here(
    write_spec: WriteSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = read_spec(write_spec(ENVS))
    expected = [build_spec(raw, env=env, environ={}).diagnostics for env in TARGETS]
    # a worker that dies without a result, and one that cannot be started
    monkeypatch.setattr(forking_module.pickle, "dumps", lambda *a, **k: 1 / 0)
    assert build_targets(raw, TARGETS, environ={}, workers=2).diagnostics == expected
    monkeypatch.setattr(parallel_module, "_fork", lambda indices, build: None)
    assert build_targets(raw, TARGETS, environ={}, workers=2).diagnostics == expected


@pytest.mark.skipif(not hasattr(signal, "SIGCHLD"), reason="POSIX signals")
def test_workers_reaped_by_an_ignored_sigchld(write_spec: WriteSpec) -> None:
    raw = read_spec(write_spec(ENVS))
    expected = [build_spec(raw, env=env, environ={}).diagnostics for env in TARGETS]
    previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children reap themselves
    try:
        assert build_targets(raw, TARGETS, environ={}, workers=2).diagnostics == expected
    finally:
        signal.signal(signal.SIGCHLD, previous)


def test_default_workers(write_spec: WriteSpec, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = read_spec(write_spec(ENVS))
    assert parallel_module._default_workers(raw, 3) == 0  # a small spec: not worth a fork
    monkeypatch.setattr(parallel_module, "MIN_PARALLEL_CHARS", 0)
    # other tests of this process may have left threads running: pretend there are none, then one
    monkeypatch.setattr(parallel_module.threading, "active_count", lambda: 1)
    if hasattr(os, "fork") and sys.platform != "darwin":
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        assert parallel_module._default_workers(raw, 3) == min(3, cpus - 1)
    monkeypatch.setattr(parallel_module.threading, "active_count", lambda: 2)
    assert parallel_module._default_workers(raw, 3) == 0  # a fork would copy no other thread
    monkeypatch.setattr(parallel_module.threading, "active_count", lambda: 1)
    assert parallel_module._default_workers(raw, 0) == 0
    monkeypatch.delattr(os, "fork")
    assert parallel_module._default_workers(raw, 3) == 0
    with pytest.raises(ValueError, match="at least one target"):
        build_targets(raw, [])


def test_validate_cli_output_is_the_same_with_workers(
    write_spec: WriteSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from agentform.cli import cli

    path = write_spec(ENVS)
    outputs = []
    forks = []
    fork = parallel_module._fork

    def counted(indices: list[int], build: Any) -> Any:
        forks.append(indices)
        return fork(indices, build)

    monkeypatch.setattr(parallel_module, "_fork", counted)
    for workers in (0, 1):  # sequential, then in a forked worker
        monkeypatch.setattr(parallel_module, "_default_workers", lambda raw, n, w=workers: w)
        for fmt in ("human", "json"):
            result = CliRunner().invoke(cli, ["validate", str(path), "--format", fmt])
            outputs.append((result.exit_code, result.output))
    assert outputs[:2] == outputs[2:]
    assert forks == [[1, 3]] * 2  # the worker built 'broken' and 'prod'; this process 'empty'
    assert outputs[0][0] == 1 and "in environment 'broken'" in outputs[0][1]


def test_end_of_file_counts_lines_as_yaml_does() -> None:
    for text in ["", "a", "a\n", "ab\ncd", "\n\n", "x\r\ny", "a\rb\n", "é\n\u2028z", "x\x85"]:
        lines = _LINE_BREAK.split(text)
        end = _end_of("f", text)
        assert (end.line, end.column) == (len(lines), len(lines[-1]) + 1), text


def test_split_template_fast_path_matches_the_scan() -> None:
    rng = random.Random(7)
    cases = ["", "${a}", "${}", "a${b}c", "${a}${b}", "${a", "}${a}}", "${'}'}", "${a${b}}"]
    cases += ["$${a}", "a $ {b}", "${a}$${b}", "{{ x }} ${var.y | default('z')} {% if %}"]
    alphabet = "${}'\"\\ab.| "
    cases += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14))) for _ in range(5000)]

    def outcome(split: Any, text: str) -> Any:
        try:
            return split(text)
        except TemplateSyntaxError as exc:
            return str(exc)

    for text in cases:
        assert outcome(split_template, text) == outcome(_split_scan, text), text


def test_parse_document_inlined_strings_keep_positions_and_templates() -> None:
    smap = SourceMap()
    value, problems = parse_document('a: x\nb: "${var.y}"\nc: [1, "${z}"]\nd: {e: f}\n', "f", smap)
    assert problems == []
    assert value == {"a": "x", "b": "${var.y}", "c": [1, "${z}"], "d": {"e": "f"}}
    assert smap.templated == {("b",), ("c", 1)}
    assert str(smap.value(("b",))) == "f:2:4"
    assert str(smap.value(("d", "e"))) == "f:4:8"
    assert str(smap.key(("d", "e"))) == "f:4:5"
