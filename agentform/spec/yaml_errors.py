"""What a YAML syntax error tells the user: where (line and column, the end of a file without a
last line break on its last line), what, and a hint for the usual mistakes (a tab in the
indentation, several documents in one file, a value with an unquoted ': ', an alias before its
anchor). Used by :mod:`agentform.spec.document` for libyaml's errors."""

from __future__ import annotations

import re

import yaml

from agentform.diagnostics import Diagnostic, Location, Severity

__all__ = ["LINE_BREAK", "syntax_diagnostic"]

LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # what YAML counts as a new line


def _tab_at(text: str, line: int) -> bool:
    lines = text.split("\n", line + 1)
    if line >= len(lines):
        return False
    row = lines[line]
    return "\t" in row[: len(row) - len(row.lstrip())]


def syntax_diagnostic(exc: yaml.MarkedYAMLError, file: str, text: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    location = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
    lines = LINE_BREAK.split(text)
    if location.line > len(lines):  # libyaml puts "end of file" on the line after a last line
        location = Location(file, len(lines), len(lines[-1]) + 1)  # that has no line break
    problem = exc.problem or "invalid YAML"
    summary = f"invalid YAML: {problem}"
    if exc.context:
        summary += f" ({exc.context}"
        if exc.context_mark and exc.problem_mark and exc.context_mark.line != exc.problem_mark.line:
            summary += f" at line {exc.context_mark.line + 1}"
        summary += ")"
    hint = None
    code = "AF001"
    if mark is not None and _tab_at(text, mark.line):
        code = "AF003"
        summary = "tab character in indentation"
        hint = "YAML indentation must use spaces; replace the tab with spaces"
    elif "expected a single document" in (exc.context or "") or "single document" in problem:
        hint = "a spec file holds one YAML document; split the '---' documents into files"
    elif "mapping values are not allowed" in problem:
        hint = "check the indentation of this line and quote values that contain ': '"
    elif "found undefined alias" in (exc.context or "") + problem:
        hint = "define the anchor (&name) before using the alias (*name)"
    return Diagnostic(Severity.ERROR, code, summary, location=location, hint=hint)
