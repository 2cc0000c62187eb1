"""Tests for agentform.diagnostics.sarif: SARIF 2.1.0 output checked against the OASIS schema."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentform.diagnostics import Diagnostic, Location, Severity
from agentform.diagnostics.codes import CODES
from agentform.diagnostics.sarif import FINGERPRINT_KEY, SRCROOT, render_sarif

SCHEMA = json.loads(
    (Path(__file__).parent.parent / "data" / "sarif-schema-2.1.0.json").read_text("utf-8")
)
VALIDATOR_CLASS = jsonschema.validators.validator_for(SCHEMA)
VALIDATOR = VALIDATOR_CLASS(SCHEMA, format_checker=VALIDATOR_CLASS.FORMAT_CHECKER)

# RFC 3986 URI-reference characters; a relative reference must not start with 'scheme:'
URI_REFERENCE = re.compile(r"^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?#\[\]]|%[0-9A-F]{2})*$")

FULL = Diagnostic(
    Severity.ERROR,
    "AF201",
    "agent 'triage' refers to unknown tool 'kbb'",
    detail="tools must be defined under 'tools:'",
    address="agent.triage",
    location=Location("examples/agentform.yaml", 18, 13),
    hint="did you mean 'kb'?",
    related=(Location("examples/tools.yaml", 3, 5), Location("other.yaml", 1, 1)),
)
BARE = Diagnostic(Severity.ERROR, "AF010", "environment 'prod' is not declared")


def sarif(diagnostics: list[Diagnostic], **kw: Any) -> dict[str, Any]:
    log: dict[str, Any] = json.loads(render_sarif(diagnostics, tool_version="0.1.0", **kw))
    return log


def results(diagnostics: list[Diagnostic], **kw: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = sarif(diagnostics, **kw)["runs"][0]["results"]
    return found


def test_shipped_schema_is_the_oasis_sarif_schema() -> None:
    assert SCHEMA["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    assert VALIDATOR_CLASS is jsonschema.Draft4Validator
    VALIDATOR_CLASS.check_schema(SCHEMA)


@pytest.mark.parametrize(
    ("diagnostics", "kw"),
    [
        ([], {}),
        ([FULL], {}),
        ([BARE], {}),
        ([dataclasses.replace(BARE, address="environment.prod")], {}),
        ([BARE], {"fallback_file": "agentform.yaml"}),
        ([Diagnostic(Severity.NOTE, "AF999", "a code not in the catalogue")], {}),
        ([FULL, BARE], {"base_uri": "file:///home/runner/work/repo/repo/"}),
        (
            [dataclasses.replace(FULL, location=Location("/srv/specs/a b.yaml", 0, 0))],
            {"base_uri": "/srv/specs"},
        ),
        ([dataclasses.replace(FULL, location=Location("C:\\specs\\a.yaml", 2, 1))], {}),
    ],
    ids=[
        "empty",
        "everything-set",
        "no-location",
        "address-without-location",
        "fallback-file",
        "unknown-code",
        "base-uri",
        "absolute-path-under-base-and-zero-line",
        "windows-path",
    ],
)
def test_output_validates(diagnostics: list[Diagnostic], kw: dict[str, str]) -> None:
    log = sarif(diagnostics, **kw)
    VALIDATOR.validate(log)
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0"
    assert len(log["runs"]) == 1
    assert len(log["runs"][0]["results"]) == len(diagnostics)


def test_driver_publishes_every_code_as_a_rule() -> None:
    driver = sarif([])["runs"][0]["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("agentform", "0.1.0")
    assert driver["informationUri"].startswith("https://")
    assert [rule["id"] for rule in driver["rules"]] == list(CODES)
    for rule in driver["rules"]:
        code = CODES[rule["id"]]
        assert rule["name"] == code.name
        assert rule["shortDescription"]["text"] == code.description
        assert rule["helpUri"] == f"https://agentform.dev/docs/diagnostics#{code.id.lower()}"
        assert rule["defaultConfiguration"]["level"] in {"error", "warning", "note"}


@pytest.mark.parametrize("code", ["AF001", "AF104", "AF201", "AF217"], ids=str)
def test_rule_index_points_at_the_rule(code: str) -> None:
    log = sarif([dataclasses.replace(FULL, code=code)])
    result = log["runs"][0]["results"][0]
    rule = log["runs"][0]["tool"]["driver"]["rules"][result["ruleIndex"]]
    assert result["ruleId"] == rule["id"] == code


def test_unknown_code_has_rule_id_but_no_index() -> None:
    (result,) = results([dataclasses.replace(BARE, code="AF999")])
    assert result["ruleId"] == "AF999"
    assert "ruleIndex" not in result


@pytest.mark.parametrize(
    ("severity", "level"),
    [(Severity.ERROR, "error"), (Severity.WARNING, "warning"), (Severity.NOTE, "note")],
    ids=["error", "warning", "note"],
)
def test_level(severity: Severity, level: str) -> None:
    (result,) = results([dataclasses.replace(FULL, severity=severity)])
    assert result["level"] == level


def test_full_result() -> None:
    (result,) = results([FULL])
    assert result["message"]["text"] == (
        "agent 'triage' refers to unknown tool 'kbb'\n"
        "tools must be defined under 'tools:'\n"
        "Hint: did you mean 'kb'?"
    )
    (location,) = result["locations"]
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": "examples/agentform.yaml", "uriBaseId": SRCROOT},
        "region": {"startLine": 18, "startColumn": 13},
    }
    assert location["logicalLocations"] == [{"fullyQualifiedName": "agent.triage"}]
    assert [r["physicalLocation"]["artifactLocation"]["uri"] for r in result["relatedLocations"]]
    assert [r["id"] for r in result["relatedLocations"]] == [0, 1]
    assert result["relatedLocations"][0]["physicalLocation"]["region"] == {
        "startLine": 3,
        "startColumn": 5,
    }


def test_no_location_omits_locations_unless_a_fallback_is_given() -> None:
    (bare,) = results([BARE])
    assert "locations" not in bare
    (anchored,) = results([BARE], fallback_file="agentform.yaml")
    assert anchored["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 1,
        "startColumn": 1,
    }
    (logical,) = results([dataclasses.replace(BARE, address="environment.prod")])
    assert logical["locations"] == [
        {"logicalLocations": [{"fullyQualifiedName": "environment.prod"}]}
    ]


@pytest.mark.parametrize(
    ("file", "base_uri", "expected"),
    [
        ("agentform.yaml", None, {"uri": "agentform.yaml", "uriBaseId": SRCROOT}),
        ("./specs/a.yaml", None, {"uri": "specs/a.yaml", "uriBaseId": SRCROOT}),
        ("specs\\a.yaml", None, {"uri": "specs/a.yaml", "uriBaseId": SRCROOT}),
        ("my spec%.yaml", None, {"uri": "my%20spec%25.yaml", "uriBaseId": SRCROOT}),
        ("c:weird.yaml", None, {"uri": "c%3Aweird.yaml", "uriBaseId": SRCROOT}),
        ("ünï.yaml", None, {"uri": "%C3%BCn%C3%AF.yaml", "uriBaseId": SRCROOT}),
        ("/srv/a.yaml", None, {"uri": "file:///srv/a.yaml"}),
        ("/srv/x/a.yaml", "/srv/x", {"uri": "a.yaml", "uriBaseId": SRCROOT}),
        ("/srv/x/a.yaml", "file:///srv/x/", {"uri": "a.yaml", "uriBaseId": SRCROOT}),
        ("/elsewhere/a.yaml", "/srv/x", {"uri": "file:///elsewhere/a.yaml"}),
        ("C:\\work\\a.yaml", None, {"uri": "file:///C:/work/a.yaml"}),
    ],
    ids=[
        "plain-relative",
        "dot-slash-stripped",
        "backslashes",
        "space-and-percent-encoded",
        "colon-is-not-a-scheme",
        "unicode-encoded",
        "absolute-posix",
        "absolute-under-base-path",
        "absolute-under-base-uri",
        "absolute-outside-base",
        "absolute-windows",
    ],
)
def test_artifact_uri(file: str, base_uri: str | None, expected: dict[str, str]) -> None:
    d = dataclasses.replace(FULL, location=Location(file, 1, 1), related=())
    (result,) = results([d], base_uri=base_uri)
    assert result["locations"][0]["physicalLocation"]["artifactLocation"] == expected


@pytest.mark.parametrize(
    ("base_uri", "published"),
    [("/srv/x", "file:///srv/x/"), ("file:///srv/x", "file:///srv/x/"), ("https://h/r/", None)],
    ids=["path", "uri-without-slash", "uri-kept"],
)
def test_base_uri_is_published(base_uri: str, published: str | None) -> None:
    run = sarif([], base_uri=base_uri)["runs"][0]
    assert run["originalUriBaseIds"] == {SRCROOT: {"uri": published or base_uri}}


def test_relative_base_uri_is_refused() -> None:
    with pytest.raises(ValueError, match="absolute"):
        render_sarif([], tool_version="0", base_uri="specs/")


def fingerprint(d: Diagnostic) -> str:
    (result,) = results([d])
    value: str = result["partialFingerprints"][FINGERPRINT_KEY]
    return value


def test_fingerprint_ignores_line_column_detail_hint_and_severity() -> None:
    moved = dataclasses.replace(
        FULL,
        location=Location("examples/agentform.yaml", 40, 2),
        detail="reworded",
        hint=None,
        severity=Severity.WARNING,
    )
    assert fingerprint(moved) == fingerprint(FULL)
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint(FULL))


@pytest.mark.parametrize(
    "changes",
    [
        {"code": "AF202"},
        {"address": "agent.other"},
        {"address": None},
        {"summary": "agent 'triage' refers to unknown tool 'kbc'"},
        {"location": Location("other.yaml", 18, 13)},
        {"location": None},
    ],
    ids=["code", "address", "no-address", "summary", "file", "no-location"],
)
def test_fingerprint_differs(changes: dict[str, Any]) -> None:
    assert fingerprint(dataclasses.replace(FULL, **changes)) != fingerprint(FULL)


def test_output_is_deterministic() -> None:
    assert render_sarif([FULL, BARE], tool_version="1") == render_sarif(
        [FULL, BARE], tool_version="1"
    )


locations = st.builds(Location, st.text(max_size=30), st.integers(-5, 10_000), st.integers(-5, 500))
diagnostics = st.builds(
    Diagnostic,
    severity=st.sampled_from(Severity),
    code=st.sampled_from([*CODES, "AF999"]),
    summary=st.text(max_size=80),
    detail=st.text(max_size=40),
    address=st.none() | st.text(max_size=30),
    location=st.none() | locations,
    hint=st.none() | st.text(max_size=40),
    related=st.lists(locations, max_size=2).map(tuple),
)


def _uris(log: dict[str, Any]) -> list[str]:
    found = []
    for result in log["runs"][0]["results"]:
        for loc in [*result.get("locations", []), *result.get("relatedLocations", [])]:
            if "physicalLocation" in loc:
                found.append(loc["physicalLocation"]["artifactLocation"]["uri"])
    return found


@settings(deadline=None)
@given(
    st.lists(diagnostics, max_size=4),
    st.none() | st.sampled_from(["file:///w/", "/w"]),
    st.none() | st.text(min_size=1, max_size=10),
)
def test_arbitrary_diagnostics_always_validate(
    ds: list[Diagnostic], base_uri: str | None, fallback: str | None
) -> None:
    log = sarif(ds, base_uri=base_uri, fallback_file=fallback)
    VALIDATOR.validate(log)
    found = log["runs"][0]["results"]
    assert [r["ruleId"] for r in found] == [d.code for d in ds]
    for uri in _uris(log):
        assert URI_REFERENCE.match(uri), uri
        assert uri.startswith("file:") or ":" not in uri.split("/")[0]
