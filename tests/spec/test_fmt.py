"""``agentform fmt``: canonical text, comments kept, idempotent, the same values before and after.

Golden files live in ``fmt_golden/NAME.in.yaml`` → ``NAME.out.yaml``; after changing the
formatter on purpose, review the new output and update the ``.out.yaml`` by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from agentform.spec.fmt import FormatError, diff, format_text

GOLDEN = Path(__file__).parent / "fmt_golden"
GOLDEN_NAMES = sorted(p.name.removesuffix(".in.yaml") for p in GOLDEN.glob("*.in.yaml"))
EXAMPLES = sorted((Path(__file__).parents[2] / "examples").rglob("*.yaml"))


def assert_formatted(source: str, formatted: str) -> None:
    """The invariants every output keeps."""
    assert format_text(formatted) == formatted, "formatting is not idempotent"
    assert yaml.safe_load(formatted) == yaml.safe_load(source), "values changed"


@pytest.mark.parametrize("name", GOLDEN_NAMES, ids=GOLDEN_NAMES)
def test_golden(name: str) -> None:
    source = (GOLDEN / f"{name}.in.yaml").read_text()
    expected = (GOLDEN / f"{name}.out.yaml").read_text()
    formatted = format_text(source)
    assert formatted == expected
    assert_formatted(source, formatted)


def test_every_golden_case_asked_for_is_present() -> None:
    asked = {"comments", "order", "indentation", "flow", "block_scalars", "schema_line"}
    assert asked | {"unknown_keys"} <= set(GOLDEN_NAMES)


@pytest.mark.parametrize("path", EXAMPLES, ids=[str(p.relative_to(p.parents[2])) for p in EXAMPLES])
def test_examples_format_cleanly(path: Path) -> None:
    source = path.read_text()
    assert_formatted(source, format_text(source))


CASES = [
    ("empty", "", ""),
    ("only-comments", "# a\n\n\n# b  \n", "# a\n\n# b\n"),
    ("final-newline-added", "version: 1", "version: 1\n"),
    ("final-newlines-collapsed", "version: 1\n\n\n", "version: 1\n"),
    ("trailing-whitespace", "version: 1   \nproject: x  \n", "version: 1\nproject: x\n"),
    ("blank-runs-collapse", "version: 1\n\n\n\nproject: x\n", "version: 1\n\nproject: x\n"),
    ("crlf", "version: 1\r\nproject: x\r\n", "version: 1\nproject: x\n"),
    ("bom", "\ufeffversion: 1\n", "version: 1\n"),
    ("value-joins-its-key", "project:\n    x\n", "project: x\n"),
    (
        "key-comment-of-a-scalar",
        "project:   # the name\n  x\nversion: 1\n",
        "version: 1\nproject: x # the name\n",
    ),
    (
        "comment-between-key-and-value",
        "project:\n  # the name\n  x\n",
        "# the name\nproject: x\n",
    ),
    (
        "names-keep-their-order",
        "agents:\n  zed: {model: m}\n  alpha: {model: m}\n",
        "agents:\n  zed: {model: m}\n  alpha: {model: m}\n",
    ),
    (
        "nested-models-ordered",
        "tools:\n  kb:\n    mcp: {url: u, command: [c]}\n    description: d\n",
        "tools:\n  kb:\n    description: d\n    mcp: {command: [c], url: u}\n",
    ),
    (
        "overlay-sections-ordered-like-the-spec",
        "environments:\n  prod:\n    agents: {a: {replicas: 2, model: m}}\n    target: {}\n",
        "environments:\n  prod:\n    target: {}\n    agents: {a: {model: m, replicas: 2}}\n",
    ),
    (
        "flow-with-comment-keeps-its-order",
        "schedules:\n  w: {input: i,  # why\n      agent: a}\n",
        "schedules:\n  w: {input: i,  # why\n      agent: a}\n",
    ),
    (
        "quotes-nulls-and-numbers-verbatim",
        "variables:\n  a: {default: 'yes'}\n  b: {default: ~}\n  c: {default: 0o17}\n"
        '  d: {default: "1e3"}\n',
        "variables:\n  a: {default: 'yes'}\n  b: {default: ~}\n  c: {default: 0o17}\n"
        '  d: {default: "1e3"}\n',
    ),
    (
        "clip-scalar-without-final-newline",
        "agents:\n  a:\n    instructions: |\n      hi",
        "agents:\n  a:\n    instructions: |-\n      hi\n",
    ),
    (
        "scalar-indentation-indicator",
        "agents:\n    a:\n        instructions: |2\n            indented first line\n"
        "          rest\n",
        "agents:\n  a:\n    instructions: |2\n        indented first line\n      rest\n",
    ),
    (
        "blank-line-after-keep-scalar-is-content",
        "schedules:\n  w:\n    input: |+\n      x\n\n    agent: a\n",
        "schedules:\n  w:\n    agent: a\n    input: |+\n      x\n\n",
    ),
    (
        "compact-sequence-items",
        "agents:\n  a:\n    skills:\n    -   # the main skill\n        name: n\n        id: s\n",
        "agents:\n  a:\n    skills:\n      # the main skill\n      - id: s\n        name: n\n",
    ),
    (
        "merge-key-stays-first",
        "base: &b {model: m}\nagents:\n  a:\n    tools: [t]\n    <<: *b\n",
        "base: &b {model: m}\nagents:\n  a:\n    <<: *b\n    tools: [t]\n",
    ),
    (
        "anchor-moves-up-to-its-alias",
        "x-models: &m {model: m}\nagents: {a: *m}\nversion: 1\n",
        "version: 1\nx-models: &m {model: m}\nagents: {a: *m}\n",
    ),
    ("explicit-document-markers", "---\nversion: 1\n...\n", "---\nversion: 1\n"),
    ("root-sequence", "-   a\n-   - b\n    - c\n", "- a\n- - b\n  - c\n"),
]


@pytest.mark.parametrize(("source", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_cases(source: str, expected: str) -> None:
    formatted = format_text(source)
    assert formatted == expected
    assert_formatted(source, formatted)


UNCHANGED = [
    ("complex-key", "? - a\n  - b\n: 1\n"),
    ("multi-line-key", "? |\n  k\n: 1\n"),
    ("root-with-anchor", "&root\nversion: 1\n"),
    ("next-line-breaks", "a: 'x\u2028y'\n"),
]


@pytest.mark.parametrize("source", [c[1] for c in UNCHANGED], ids=[c[0] for c in UNCHANGED])
def test_constructs_the_emitter_does_not_handle_come_back_unchanged(source: str) -> None:
    assert format_text(source) == source


INVALID = [
    ("unclosed-flow", "agents: {a: [1,\n", 2, 1),
    ("tab-indentation", "agents:\n\t- x\n", 2, 1),
    ("bad-indentation", "agents:\n  a: 1\n b: 2\n", 3, 2),
    ("undefined-alias", "agents: *nope\n", 1, 9),
    ("duplicate-anchor", "a: &x 1\nb: &x 2\n", 2, 4),
    ("duplicate-key", "version: 1\nproject: a\nversion: 1\n", 3, 1),
    ("duplicate-nested-key", "agents:\n  a: {}\n  b: {}\n  a: {}\n", 4, 3),
    ("duplicate-flow-key", "tools: {kb: 1, kb: 2}\n", 1, 16),
    ("duplicate-quoted-key", "version: 1\n'version': 1\n", 2, 1),
    ("two-documents", "version: 1\n---\nversion: 2\n", 2, 1),
    ("control-character", "version: 1\nproject: \x07\n", 2, 10),
]


@pytest.mark.parametrize(
    ("source", "line", "column"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_text_raises_a_located_format_error(source: str, line: int, column: int) -> None:
    with pytest.raises(FormatError) as caught:
        format_text(source)
    assert isinstance(caught.value, ValueError)
    assert (caught.value.line, caught.value.column) == (line, column)
    assert str(caught.value).startswith(f"{line}:{column}: ")


def test_duplicate_key_message_names_the_first_definition() -> None:
    message = "duplicate key 'version': it is already defined at line 1"
    with pytest.raises(FormatError, match=message):
        format_text("version: 1\nproject: a\nversion: 1\n")


def test_diff_is_a_unified_diff_and_empty_when_equal() -> None:
    source = "project: x\nversion: 1"
    assert diff(source, source, "agentform.yaml") == ""
    assert diff(source, format_text(source), "agentform.yaml") == (
        "--- a/agentform.yaml\n"
        "+++ b/agentform.yaml\n"
        "@@ -1,2 +1,2 @@\n"
        "+version: 1\n"
        " project: x\n"
        "-version: 1\n"
        "\\ No newline at end of file\n"
    )


def test_diff_splits_lines_at_newlines_only() -> None:
    assert diff("a: 'x\x0cy'\n", "a: 'x\x0cz'\n", "f.yaml").count("\n") == 5


# -- properties -------------------------------------------------------------------------------

KEYS = st.one_of(
    st.sampled_from(
        ["version", "project", "description", "agents", "tools", "models", "memory", "model",
         "instructions", "provider", "mcp", "command", "limits", "max_steps", "timeout", "x-ext",
         "<<", "yes", "null", "1", "a: b", "# c"]
    ),
    st.text(max_size=8),
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20),
    st.sampled_from(
        ["", " lead", "trail ", "- x", "{{ customer.name }}", "${var.x}", "multi\nline\n",
         "two\n\nparagraphs", "  indented\nx", "tab\there", "yes", "0o17", "1e3", "~", "\\ "]
    ),
)  # fmt: skip
DATA = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=25,
)
DUMP_STYLES = st.fixed_dictionaries(
    {
        "default_flow_style": st.sampled_from([False, True, None]),
        "default_style": st.sampled_from([None, None, '"', "'", "|"]),
        "indent": st.integers(2, 9),
        "width": st.sampled_from([20, 80, 1_000_000]),
        "allow_unicode": st.booleans(),
        "explicit_start": st.booleans(),
        "sort_keys": st.booleans(),
    }
)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(DATA, DUMP_STYLES)
def test_any_dumped_yaml_is_formatted_idempotently_and_keeps_its_values(
    data: Any, style: dict[str, Any]
) -> None:
    source = dump(data, style)
    assert_formatted(source, format_text(source))


def dump(data: Any, style: dict[str, Any]) -> str:
    text: str = yaml.safe_dump(data, **style)
    return text


@st.composite
def commented_yaml(draw: st.DrawFn) -> str:
    """Dumped YAML with full-line comments, end-of-line comments and blank lines sprinkled in."""
    data = draw(DATA)
    lines: list[str] = []
    for line in dump(data, draw(DUMP_STYLES)).split("\n"):
        extra = draw(st.integers(0, 7))
        if extra == 0:
            lines.append(" " * draw(st.integers(0, 10)) + f"# c{len(lines)}")
        elif extra == 1:
            lines.append("")
        comment = line.strip() and draw(st.integers(0, 3)) == 0
        lines.append(line + " " * draw(st.integers(1, 3)) + "# e" if comment else line)
    text = "\n".join(lines)
    try:
        same = yaml.safe_load(text) == data
    except Exception:  # PyYAML raises more than YAMLError on some tagged scalars
        same = False
    assume(same)  # a comment landed inside a block scalar or a multi-line string
    return text


@PROPERTY
@given(commented_yaml())
def test_comments_survive_and_formatting_is_idempotent(source: str) -> None:
    formatted = format_text(source)
    assert_formatted(source, formatted)
    for mark in ("# c", "# e"):
        assert formatted.count(mark) == source.count(mark)


@pytest.mark.slow
def test_a_five_megabyte_spec_is_formatted_and_idempotent() -> None:
    """Correctness at scale; how long it takes is ``benchmarks/bench_fmt.py`` (same spec)."""
    agent = (
        "  a{i}:  # agent {i}\n"
        "      instructions: |\n"
        "          You are agent {i}; greet {{{{ customer.name }}}} on ${{var.tier}}.\n"
        "      model: fast\n"
        "      tools: [kb, refunds]\n"
        "      limits: {{timeout: 5m, max_steps: 20}}\n"
        "      memory:\n"
        "      - conversations\n"
    )
    source = "agents:\n" + "".join(agent.format(i=i) for i in range(30_000)) + "version: 1\n"
    assert len(source) > 5_000_000
    formatted = format_text(source)
    assert formatted.startswith("version: 1\nagents:\n  a0:  # agent 0\n    model: fast\n")
    assert formatted.count("  # agent ") == 30_000
    assert format_text(formatted) == formatted
