"""Diagnostics for people: compiler-style text with the offending source line and a caret.

::

    error[AF201]: agent 'triage' refers to unknown tool 'kbb'
      --> examples/support-desk/agentform.yaml:18:13
       |
    18 |     tools: [kbb]
       |             ^^^
       = hint: did you mean 'kb'?

Pure: returns a string (ANSI colours when asked) and never prints. Called by the CLI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agentform.diagnostics import Diagnostic, Severity

__all__ = ["render_human", "summary_line"]

_COLORS = {
    Severity.ERROR: "\x1b[1;31m",
    Severity.WARNING: "\x1b[1;33m",
    Severity.NOTE: "\x1b[1;36m",
}
_BOLD, _BLUE, _RESET = "\x1b[1m", "\x1b[1;34m", "\x1b[0m"
_STOP = set(" \t,]}#")


def _token_width(line: str, column: int) -> int:
    start = column - 1
    if start >= len(line):
        return 1
    if line[start] in "'\"":
        end = line.find(line[start], start + 1)
        return (end - start + 1) if end > start else len(line) - start
    end = start
    while end < len(line) and line[end] not in _STOP:
        if line[end] == ":" and (end + 1 == len(line) or line[end + 1] == " "):
            break
        end += 1
    return max(1, end - start)


def _source_line(
    sources: Mapping[str, str], file: str, line: int, split: dict[str, list[str]]
) -> str | None:
    """Line ``line`` (1-based) of ``file``; ``split`` keeps each file's lines across calls (a
    large spec with many warnings must not be split once per diagnostic)."""
    lines = split.get(file)
    if lines is None:
        text = sources.get(file)
        if text is None:
            return None
        lines = split[file] = text.splitlines()
    return lines[line - 1].replace("\t", " ") if 0 < line <= len(lines) else None


def _render_one(
    d: Diagnostic, sources: Mapping[str, str], color: bool, split: dict[str, list[str]]
) -> list[str]:
    def paint(code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if color else text

    head = paint(_COLORS[d.severity], f"{d.severity.value}[{d.code}]")
    out = [f"{head}{paint(_BOLD, ': ' + d.summary)}"]
    loc = d.location
    gutter = " " * (len(str(loc.line)) if loc else 1)
    if loc:
        out.append(f"{gutter}{paint(_BLUE, '-->')} {loc}")
        text = _source_line(sources, loc.file, loc.line, split)
        if text is not None:
            width = _token_width(text, loc.column)
            caret = " " * (loc.column - 1) + "^" * width
            out.append(f"{gutter} {paint(_BLUE, '|')}")
            out.append(f"{paint(_BLUE, str(loc.line))} {paint(_BLUE, '|')} {text}")
            out.append(f"{gutter} {paint(_BLUE, '|')} {paint(_COLORS[d.severity], caret)}")
    if d.detail:
        out.append(f"{gutter} {paint(_BLUE, '=')} {d.detail}")
    if d.address:
        out.append(f"{gutter} {paint(_BLUE, '=')} address: {d.address}")
    for related in d.related:
        out.append(f"{gutter} {paint(_BLUE, '=')} see also: {related}")
    if d.hint:
        out.append(f"{gutter} {paint(_BLUE, '=')} {paint(_BOLD, 'hint')}: {d.hint}")
    return out


def summary_line(diagnostics: Sequence[Diagnostic], what: str) -> str:
    errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
    warnings = sum(1 for d in diagnostics if d.severity is Severity.WARNING)

    def count(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    if errors:
        return f"{what} is invalid: {count(errors, 'error')}, {count(warnings, 'warning')}"
    if warnings:
        return f"{what} is valid, with {count(warnings, 'warning')}"
    return f"{what} is valid"


def render_human(
    diagnostics: Sequence[Diagnostic], sources: Mapping[str, str], *, color: bool = False
) -> str:
    """All diagnostics, separated by blank lines, ending with a newline (empty if none)."""
    split: dict[str, list[str]] = {}
    blocks = ["\n".join(_render_one(d, sources, color, split)) for d in diagnostics]
    return "\n\n".join(blocks) + ("\n" if blocks else "")
