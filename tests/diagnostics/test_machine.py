"""Tests for agentform.diagnostics.machine: the JSON report and GitHub workflow commands."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentform.diagnostics import Diagnostic, Location, Severity
from agentform.diagnostics.machine import JSON_FORMAT_VERSION, render_github, render_json

ERR = Diagnostic(
    Severity.ERROR,
    "AF201",
    "agent 'triage' refers to unknown tool 'kbb'",
    detail="tools must be defined under 'tools:'",
    address="agent.triage",
    location=Location("agentform.yaml", 18, 13),
    hint="did you mean 'kb'?",
    related=(Location("tools.yaml", 3, 5),),
)
WARN = Diagnostic(Severity.WARNING, "AF215", "model 'spare' is never used")
NOTE = Diagnostic(Severity.NOTE, "AF204", "agent 'x' is only reachable by delegation")
COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "notice"}


# -- JSON ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("diagnostics", "valid", "errors", "warnings"),
    [
        ([], True, 0, 0),
        ([ERR], False, 1, 0),
        ([WARN, WARN], True, 0, 2),
        ([NOTE], True, 0, 0),
        ([ERR, WARN, NOTE, ERR], False, 2, 1),
    ],
    ids=["empty", "one-error", "warnings-only", "note-only", "mixed"],
)
def test_json_counts_and_validity(
    diagnostics: list[Diagnostic], valid: bool, errors: int, warnings: int
) -> None:
    report = json.loads(render_json(diagnostics, files=["agentform.yaml"]))
    assert report["valid"] is valid
    assert report["error_count"] == errors
    assert report["warning_count"] == warnings
    assert report["diagnostics"] == [d.to_dict() for d in diagnostics]


@pytest.mark.parametrize(
    ("files", "environment"),
    [([], None), (["a.yaml", "dir/b.yaml"], "prod"), (["ünï cødé.yaml"], "staging")],
    ids=["no-files-no-env", "two-files-env", "unicode-file"],
)
def test_json_document_shape(files: list[str], environment: str | None) -> None:
    text = render_json([ERR, WARN], files=files, environment=environment)
    report = json.loads(text)
    assert list(report) == [
        "format_version",
        "valid",
        "error_count",
        "warning_count",
        "files",
        "environment",
        "diagnostics",
    ]
    assert report["format_version"] == JSON_FORMAT_VERSION == 1
    assert report["files"] == files
    assert report["environment"] == environment
    assert text.endswith("}\n")
    assert text.isascii()


def test_json_keeps_the_given_order() -> None:
    report = json.loads(render_json([NOTE, ERR, WARN], files=[]))
    assert [d["code"] for d in report["diagnostics"]] == ["AF204", "AF201", "AF215"]


# -- GitHub workflow commands ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("diagnostic", "expected"),
    [
        (
            ERR,
            "::error file=agentform.yaml,line=18,col=13,title=AF201 unresolved-reference"
            "::agent 'triage' refers to unknown tool 'kbb' — did you mean 'kb'?",
        ),
        (WARN, "::warning title=AF215 unused::model 'spare' is never used"),
        (NOTE, "::notice title=AF204 unreachable-agent::agent 'x' is only reachable by delegation"),
        (
            Diagnostic(Severity.ERROR, "AF001", "line one\nline two\r\nthree"),
            "::error title=AF001 yaml-syntax::line one%0Aline two%0D%0Athree",
        ),
        (
            Diagnostic(Severity.ERROR, "AF104", "100% sure: a, b"),
            "::error title=AF104 invalid-value::100%25 sure: a, b",
        ),
        (
            Diagnostic(Severity.ERROR, "AF104", "already %0A escaped"),
            "::error title=AF104 invalid-value::already %250A escaped",
        ),
        (
            Diagnostic(
                Severity.WARNING,
                "AF004",
                "x",
                location=Location("C:\\specs\\a,b%:c.yaml", 1, 2),
            ),
            "::warning file=C%3A\\specs\\a%2Cb%25%3Ac.yaml,line=1,col=2,title=AF004 "
            "file-unreadable::x",
        ),
        (
            Diagnostic(Severity.ERROR, "AF999", "s", hint="two\nlines"),
            "::error title=AF999::s — two%0Alines",
        ),
    ],
    ids=[
        "error-with-location-and-hint",
        "warning-without-location",
        "note-becomes-notice",
        "newlines-in-message",
        "percent-colon-comma-in-message",
        "percent-escape-is-not-double-decoded",
        "escaped-file-property",
        "unknown-code-title-and-hint-newline",
    ],
)
def test_github_command(diagnostic: Diagnostic, expected: str) -> None:
    assert render_github([diagnostic]) == expected + "\n"


def test_github_empty() -> None:
    assert render_github([]) == ""


def _unescape(text: str) -> str:
    """What the Actions runner does to a property or message, in its order."""
    for escaped, raw in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        text = text.replace(escaped, raw)
    return text


def _parse(line: str) -> tuple[str, dict[str, str], str]:
    """Split a command the way the runner does: properties end at the first '::'."""
    assert line.startswith("::")
    head, _, message = line[2:].partition("::")
    command, _, props = head.partition(" ")
    pairs = (item.partition("=") for item in props.split(",") if item)
    return command, {key: _unescape(value) for key, _, value in pairs}, _unescape(message)


locations = st.builds(Location, st.text(max_size=30), st.integers(1, 10_000), st.integers(1, 500))
diagnostics = st.builds(
    Diagnostic,
    severity=st.sampled_from(Severity),
    code=st.sampled_from(["AF001", "AF201", "AF215", "AF999"]),
    summary=st.text(max_size=80),
    detail=st.text(max_size=40),
    address=st.none() | st.text(max_size=30),
    location=st.none() | locations,
    hint=st.none() | st.text(max_size=40),
    related=st.lists(locations, max_size=2).map(tuple),
)


@settings(deadline=None)
@given(st.lists(diagnostics, max_size=5))
def test_github_is_one_line_per_diagnostic_and_round_trips(ds: list[Diagnostic]) -> None:
    out = render_github(ds)
    assert "\r" not in out
    lines = out.split("\n")
    assert lines.pop() == ""
    assert len(lines) == len(ds)
    for line, d in zip(lines, ds, strict=True):
        command, props, message = _parse(line)
        assert command == COMMANDS[d.severity]
        assert message == (f"{d.summary} — {d.hint}" if d.hint else d.summary)
        if d.location:
            assert props["file"] == d.location.file
            assert (int(props["line"]), int(props["col"])) == (d.location.line, d.location.column)
        else:
            assert "file" not in props
        assert props["title"].startswith(d.code)


@settings(deadline=None)
@given(st.lists(diagnostics, max_size=5), st.lists(st.text(max_size=20), max_size=3))
def test_json_round_trips_arbitrary_diagnostics(ds: list[Diagnostic], files: list[str]) -> None:
    report = json.loads(render_json(ds, files=files, environment="dev"))
    assert report["diagnostics"] == [d.to_dict() for d in ds]
    assert report["files"] == files
    assert report["valid"] == all(d.severity is not Severity.ERROR for d in ds)
