"""YAML documents with locations: duplicate keys, merge keys, tags, limits."""

from __future__ import annotations

import pytest

from agentform.spec.document import parse_document
from agentform.spec.sourcemap import SourceMap


def parse(text: str) -> tuple[object, list[tuple[str, int, int]], SourceMap]:
    smap = SourceMap()
    value, diags = parse_document(text, "f.yaml", smap)
    return value, [(d.code, d.location.line, d.location.column) for d in diags if d.location], smap


def test_locations_of_keys_and_values() -> None:
    value, diags, smap = parse("a: 1\nb:\n  c: [x, y]\n")
    assert value == {"a": 1, "b": {"c": ["x", "y"]}}
    assert diags == []
    value_loc, key_loc = smap.value(("b", "c", 1)), smap.key(("b", "c"))
    assert value_loc is not None and key_loc is not None
    assert (value_loc.file, value_loc.line, value_loc.column) == ("f.yaml", 3, 10)
    assert (key_loc.line, key_loc.column) == (3, 3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\na: 2\n", [("AF002", 2, 1)]),
        ("x:\n  a: 1\n  b: 2\n  a: 3\n", [("AF002", 4, 3)]),
        ("a:\n\t- x\n", [("AF003", 2, 1)]),
        ("a: [1,\n", [("AF001", 2, 1)]),
        ("a: 1\n---\nb: 2\n", [("AF001", 2, 1)]),
        ("a: &x [*x]\n", [("AF013", 1, 4)]),
        ("a: !!python/object:os.system x\n", [("AF013", 1, 4)]),
        ("? [a, b]\n: 1\n", [("AF013", 1, 3)]),
        ("a: *nope\n", [("AF001", 1, 4)]),
    ],
    ids=[
        "duplicate-top",
        "duplicate-nested",
        "tab",
        "unclosed-flow",
        "two-documents",
        "recursive-alias",
        "python-tag",
        "complex-key",
        "undefined-alias",
    ],
)
def test_bad_documents_are_located(text: str, expected: list[tuple[str, int, int]]) -> None:
    _, diags, _ = parse(text)
    assert diags == expected


def test_keys_keep_their_spelling_and_scalars_are_typed() -> None:
    value, _, _ = parse("no: yes\n'1': 0x10\nc: 1_000\nd: ~\ne: 1.5\nf: 2026-01-01\n")
    assert value == {"no": True, "1": 16, "c": 1000, "d": None, "e": 1.5, "f": "2026-01-01"}


def test_merge_keys_do_not_override_explicit_keys() -> None:
    value, diags, _ = parse("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n")
    assert diags == []
    assert value == {"base": {"x": 1, "y": 2}, "other": {"y": 3, "x": 1}}


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    value, diags, _ = parse("\n".join(lines) + "\n")
    assert value is None
    assert [d[0] for d in diags] == ["AF007"]


def test_deep_nesting_is_refused() -> None:
    _, diags, _ = parse("a: " + "[" * 200 + "]" * 200 + "\n")
    assert [d[0] for d in diags] == ["AF007"]
