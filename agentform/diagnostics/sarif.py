"""Diagnostics as SARIF 2.1.0, the log format GitHub code scanning and other viewers import.

Owns :func:`render_sarif`: one run whose driver publishes every code in
:data:`~agentform.diagnostics.codes.CODES` as a rule, and one result per diagnostic with its
level, a readable message, a physical location (file URIs relative to ``%SRCROOT%``), the
address as a logical location, related locations, and a ``partialFingerprints`` hash that leaves
out line and column so an alert keeps its identity when the text around it moves. Pure: returns a
string and never prints. Called by the CLI (``validate --format sarif``); the output is checked
against the OASIS schema shipped in ``tests/data``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import PurePosixPath, PureWindowsPath
from urllib.parse import quote, urlsplit

from agentform.diagnostics import Diagnostic, Location, Severity
from agentform.diagnostics.codes import CODES, Code

__all__ = [
    "FINGERPRINT_KEY",
    "INFORMATION_URI",
    "SARIF_SCHEMA_URI",
    "SRCROOT",
    "help_uri",
    "render_sarif",
]

SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://agentform.dev"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "agentformFingerprint/v1"

_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "note"}
_RULE_INDEX = {code: index for index, code in enumerate(CODES)}

JsonObject = dict[str, object]


def help_uri(code: str) -> str:
    """Where the documentation of ``code`` lives, e.g. ``.../docs/diagnostics#af201``."""
    return f"{INFORMATION_URI}/docs/diagnostics#{code.lower()}"


def _rule(code: Code) -> JsonObject:
    return {
        "id": code.id,
        "name": code.name,
        "shortDescription": {"text": code.description},
        "helpUri": help_uri(code.id),
        "help": {"text": f"{code.description} See {help_uri(code.id)}"},
        # the catalogue has no per-code severity and most codes are errors; each result
        # carries its own level, which is what viewers show
        "defaultConfiguration": {"level": "error"},
    }


def _base(base_uri: str) -> str:
    """``base_uri`` as an absolute URI ending in '/', accepting an absolute directory path too."""
    if PureWindowsPath(base_uri).is_absolute():
        uri = PureWindowsPath(base_uri).as_uri()
    elif base_uri.startswith("/"):
        uri = PurePosixPath(base_uri).as_uri()
    elif len(urlsplit(base_uri).scheme) > 1:
        uri = base_uri
    else:
        raise ValueError(
            f"base_uri {base_uri!r} is neither an absolute URI nor an absolute path; "
            "pass the source root, e.g. 'file:///home/me/project/'"
        )
    return uri if uri.endswith("/") else uri + "/"


def _artifact(file: str, base: str | None) -> JsonObject:
    if PureWindowsPath(file).is_absolute():
        absolute: str | None = PureWindowsPath(file).as_uri()
    elif file.startswith("/"):
        absolute = PurePosixPath(file).as_uri()
    else:
        absolute = None
    if absolute is None:
        # relative names are relative to the working directory, which the CLI treats as root;
        # percent-encoding keeps a ':' or space in a name from reading as a scheme or breaking
        posix = file.replace("\\", "/")
        while posix.startswith("./"):
            posix = posix[2:]
        return {"uri": quote(posix, safe="/"), "uriBaseId": SRCROOT}
    if base and absolute.startswith(base):
        return {"uri": absolute[len(base) :], "uriBaseId": SRCROOT}
    return {"uri": absolute}


def _physical(loc: Location, base: str | None) -> JsonObject:
    # SARIF lines and columns start at 1; an out-of-range value would make GitHub reject the
    # whole upload, so clamp rather than lose every other result
    return {
        "artifactLocation": _artifact(loc.file, base),
        "region": {"startLine": max(1, loc.line), "startColumn": max(1, loc.column)},
    }


def _message(d: Diagnostic) -> str:
    parts = [d.summary, d.detail, f"Hint: {d.hint}" if d.hint else ""]
    return "\n".join(part for part in parts if part)


def _fingerprint(d: Diagnostic) -> str:
    """Stable across commits: line and column are left out so moving text keeps the alert."""
    key = [d.code, d.address or "", d.location.file if d.location else "", d.summary]
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()


def _result(d: Diagnostic, base: str | None, fallback_file: str | None) -> JsonObject:
    result: JsonObject = {"ruleId": d.code}
    if d.code in _RULE_INDEX:
        result["ruleIndex"] = _RULE_INDEX[d.code]
    result["level"] = _LEVELS[d.severity]
    result["message"] = {"text": _message(d)}
    location: JsonObject = {}
    where = d.location or (Location(fallback_file, 1, 1) if fallback_file else None)
    if where:
        location["physicalLocation"] = _physical(where, base)
    if d.address:
        location["logicalLocations"] = [{"fullyQualifiedName": d.address}]
    if location:
        result["locations"] = [location]
    result["partialFingerprints"] = {FINGERPRINT_KEY: _fingerprint(d)}
    if d.related:
        result["relatedLocations"] = [
            {"id": index, "physicalLocation": _physical(loc, base)}
            for index, loc in enumerate(d.related)
        ]
    return result


def render_sarif(
    diagnostics: Sequence[Diagnostic],
    *,
    tool_version: str,
    base_uri: str | None = None,
    fallback_file: str | None = None,
) -> str:
    """A SARIF 2.1.0 log with one run, indented, ending with a newline.

    ``base_uri`` is the absolute URI (or absolute path) of the directory that relative file
    names are relative to; it is published as ``originalUriBaseIds["%SRCROOT%"]`` and absolute
    file names under it are made relative. A diagnostic without a location gets no
    ``locations``, which is valid SARIF but makes GitHub code scanning refuse the whole upload;
    pass ``fallback_file`` (e.g. the entry spec file) to place such results at its line 1.
    """
    base = _base(base_uri) if base_uri is not None else None
    run: JsonObject = {
        "tool": {
            "driver": {
                "name": "agentform",
                "informationUri": INFORMATION_URI,
                "version": tool_version,
                "rules": [_rule(code) for code in CODES.values()],
            }
        },
    }
    if base:
        run["originalUriBaseIds"] = {SRCROOT: {"uri": base}}
    run["columnKind"] = "unicodeCodePoints"
    run["results"] = [_result(d, base, fallback_file) for d in diagnostics]
    log = {"$schema": SARIF_SCHEMA_URI, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2) + "\n"
