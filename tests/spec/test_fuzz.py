"""Fuzzing the loader: whatever a spec file holds, ``load_spec`` returns, and locates problems.

Three generators feed the same invariants (:func:`_check`): byte-level mutations of a valid
spec, structure-level mutations of its parsed value dumped back to YAML, and random text. The
invariants: ``load_spec`` never raises; it returns a spec or at least one diagnostic; a spec is
returned only without errors; every code is catalogued; and every location names the file that
was loaded, with a line and column inside it (counted as YAML counts them).

Sized to run in well under a minute on two cores; ``AGENTFORM_FUZZ_SCALE=20`` runs twenty times
as many examples (do that after changing the loader). A failure here is a loader bug: add the
shrunk input to ``tests/spec/bad/`` as a regression case.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentform.diagnostics import Diagnostic, Location, has_errors
from agentform.diagnostics.codes import CODES
from agentform.spec import LoadResult, load_spec

BASE_SPEC = """\
version: 1
project: support-desk
description: Customer support agents
variables:
  tier: {type: string, default: standard}
  replicas: {type: integer, default: 2}
environments:
  prod:
    agents: {triage: {replicas: 3}}
models:
  fast:
    provider: openai
    model: gpt-4o-mini
    api_key: ${secret.OPENAI_API_KEY}
    limits: {requests_per_minute: 500}
    fallback: [careful]
  careful: {provider: anthropic, model: claude-3-5-haiku-latest, timeout: 30s}
tools:
  kb:
    mcp: {command: [python, -m, kb_server]}
    side_effects: none
  refunds:
    mcp: {url: "http://billing:8080/mcp"}
    side_effects: unsafe
    timeout: 30s
memory:
  conversations: {kind: session, ttl: 30d}
  customer-facts: {kind: long_term, scope: customer, retention: 365d, redact: [email]}
agents:
  triage:
    model: fast
    instructions: "You triage messages for {{ customer.name }} (${var.tier} tier)."
    tools: [kb]
    memory: [conversations, customer-facts]
    delegates: [billing]
    replicas: ${var.replicas}
    limits: {max_steps: 20, max_tool_calls: 10, max_cost_usd: 0.5, timeout: 5m}
  billing:
    model: fast
    tools: [refunds]
    skills: [{id: refunds, description: Issue refunds}]
policies:
  refund-approval:
    agents: [billing]
    tools: [refunds]
    effect: require_approval
    when: "args.amount > 100"
    approvers: [support-lead]
access:
  roles:
    support-lead: ["invoke:*", "approve:refund-approval"]
  members:
    alice: [support-lead]
schedules:
  weekly: {cron: "0 9 * * MON", agent: triage, input: Summarise last week}
"""

# YAML (and so every location) counts these as line breaks
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
# an input that takes longer than this is a denial of service for CI on untrusted specs
MAX_SECONDS = 5.0
SCALE = int(os.environ.get("AGENTFORM_FUZZ_SCALE", "1"))

# -- invariants ------------------------------------------------------------------------------


def _load(data: bytes, env: str | None = None) -> tuple[LoadResult, Path]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "agentform.yaml"
        path.write_bytes(data)
        started = time.perf_counter()
        result = load_spec(path, env=env, environ={})
        elapsed = time.perf_counter() - started
        assert elapsed < MAX_SECONDS, f"load_spec took {elapsed:.1f}s"
        return result, path


def _in_file(loc: Location, path: Path, lines: list[str]) -> None:
    assert os.path.realpath(loc.file) == os.path.realpath(path), f"{loc} is not in {path}"
    assert 1 <= loc.line <= len(lines), f"{loc}: the file has {len(lines)} lines"
    assert 1 <= loc.column <= len(lines[loc.line - 1]) + 1, f"{loc}: column out of range"


def _check(data: bytes, env: str | None = None) -> LoadResult:
    result, path = _load(data, env)
    diagnostics = result.diagnostics
    assert isinstance(result, LoadResult)
    assert result.spec is not None or diagnostics, "no spec and no diagnostic"
    if result.spec is not None:
        assert not has_errors(diagnostics), "a spec was returned despite errors"
    lines = _LINE_BREAK.split(data.decode("utf-8-sig", errors="replace"))
    for d in diagnostics:
        assert isinstance(d, Diagnostic)
        assert d.code in CODES, d
        assert d.summary, d
        if d.location is not None:
            _in_file(d.location, path, lines)
        for related in d.related:
            _in_file(related, path, lines)
    return result


def test_base_spec_is_valid() -> None:
    """The fuzzers start from a spec with no diagnostics, in both environments (its schedule
    drew AF219 until schedules ran)."""
    for env in (None, "prod"):
        result = _check(BASE_SPEC.encode(), env)
        assert result.ok
        assert [(d.code, d.address) for d in result.diagnostics] == []


# -- (a) byte-level mutations ----------------------------------------------------------------

_BASE = BASE_SPEC.encode()
_SPECIAL = [
    b"\t",
    b"\x00",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b": ",
    b"&a ",
    b"*a",
    b"&",
    b"*",
    b"!",
    b"!!int ",
    b"|",
    b">",
    b"- ",
    b"#",
    b"'",
    b'"',
    b"\n",
    b"\r",
    b"\r\n",
    b" ",
    b"${",
    b"$${",
    b"{{",
    b"%",
    b"@",
    b"`",
    b"<<: ",
    b"? ",
    b"---\n",
    b"...\n",
    b"\\",
    b"\xff",
    b"\xc3",
    b"\xe2\x80\xa8",
    b"\xc2\x85",
    b"\xef\xbb\xbf",
    b"\x7f",
    b"\x1b",
]
_chunk = st.sampled_from(_SPECIAL) | st.binary(min_size=1, max_size=6)
_mutation = st.one_of(
    st.tuples(st.just("insert"), st.integers(0, len(_BASE)), _chunk),
    st.tuples(st.just("replace"), st.integers(0, len(_BASE)), _chunk),
    st.tuples(st.just("delete"), st.integers(0, len(_BASE)), st.integers(1, 40)),
    st.tuples(st.just("truncate"), st.integers(0, len(_BASE)), st.none()),
)


def _mutate(data: bytes, mutations: list[tuple[str, int, Any]]) -> bytes:
    for op, position, arg in mutations:
        at = position % (len(data) + 1)
        if op == "insert":
            data = data[:at] + arg + data[at:]
        elif op == "replace":
            data = data[:at] + arg + data[at + len(arg) :]
        elif op == "delete":
            data = data[:at] + data[at + arg :]
        else:
            data = data[:at]
    return data


@settings(max_examples=1200 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mutations=st.lists(_mutation, min_size=1, max_size=6),
    env=st.sampled_from([None, "prod"]),
)
def test_byte_mutations(mutations: list[tuple[str, int, Any]], env: str | None) -> None:
    _check(_mutate(_BASE, mutations), env)


# -- (b) structure-level mutations -----------------------------------------------------------

_BASE_VALUE: dict[str, Any] = yaml.safe_load(BASE_SPEC)
_NAMES = ["kb", "refunds", "fast", "careful", "triage", "billing", "conversations", "*", "prod"]
_KEYS = sorted(
    {"agents", "tools", "models", "memory", "policies", "schedules", "access", "roles"}
    | {"model", "mcp", "url", "command", "effect", "when", "cron", "fallback", "delegates"}
    | {"replicas", "limits", "timeout", "side_effects", "kind", "approvers", "variables"}
    | {"environments", "runtime", "store", "bus", "target", "provider", "default", "type"}
)
_long_text = st.builds(lambda c, n: c * n, st.characters(), st.integers(200, 5000))
_tricky_text = st.sampled_from(
    [
        "${var.tier}",
        "${var.teir}",
        "${env.HOME}",
        "${secret.KEY}",
        "${secret.KEY | upper}",
        "${",
        "${}",
        "$${var.tier}",
        "{{ customer.name }",
        "{% if %}",
        "5m",
        "5 minutes",
        "0s",
        "-1",
        "invoke:*",
        "invoke triage",
        "approve:refund-approval",
        "args.amount >",
        "61 9 * * MON",
        "http://[::1",
        "nats://host:4222",
        "mysql://db",
        "Triage Bot",
        "unsafe",
        "maybe",
        "require_approval",
        *_NAMES,
    ]
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    _tricky_text,
    _long_text,
)
_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.sampled_from(_KEYS), children, max_size=4)
    ),
    max_leaves=12,
)
_new_key = st.sampled_from(_KEYS + _NAMES) | st.text(min_size=1, max_size=12) | st.integers()


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _structure_mutate(data: st.DataObject, value: dict[str, Any], rounds: int) -> dict[str, Any]:
    for _ in range(rounds):
        paths = [p for p in _paths(value) if p]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths), label="path")
        parent: Any = value
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        op = data.draw(st.sampled_from(["delete", "replace", "rename"]), label="op")
        if op == "delete":
            del parent[last]
        elif op == "replace":
            parent[last] = data.draw(_values, label="value")
        elif isinstance(parent, dict):
            new = data.draw(_new_key, label="key")
            if new == "include":  # would read arbitrary paths: covered by the corpus instead
                continue
            parent[new] = parent.pop(last)
        else:  # "rename" in a list: swap two items
            other = data.draw(st.integers(0, len(parent) - 1), label="index")
            parent[last], parent[other] = parent[other], parent[last]
    return value


@settings(max_examples=600 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    rounds=st.integers(1, 6),
    env=st.sampled_from([None, "prod"]),
    unicode=st.booleans(),
)
def test_structure_mutations(
    data: st.DataObject, rounds: int, env: str | None, unicode: bool
) -> None:
    value = _structure_mutate(data, _copy(_BASE_VALUE), rounds)
    text = yaml.safe_dump(value, allow_unicode=unicode, sort_keys=False)
    _check(text.encode("utf-8"), env)


# -- (c) random text -------------------------------------------------------------------------

_yamlish = st.text(
    alphabet=st.sampled_from(list("ab19 :-,[]{}\n\t&*!|>'\"#%@`?$\\<~.")) | st.characters(),
    max_size=300,
)


@settings(max_examples=1000 * SCALE, deadline=None)
@given(text=st.text(max_size=300) | _yamlish)
def test_random_text(text: str) -> None:
    _check(text.encode("utf-8", errors="surrogatepass"))


@pytest.mark.parametrize(
    "text",
    ["", "\n", "~", "[]", "{}", "- a", "a", "\ufeff", "%YAML 1.1\n---\n{}", "*a", "&a", "!x"],
    ids=repr,
)
def test_tiny_documents(text: str) -> None:
    _check(text.encode())
