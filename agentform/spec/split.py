"""Parse one large YAML file on several CPUs, in parts cut between the entries of a section.

A 10,000-agent spec is one 13 MB file, and parsing it (libyaml composes nodes, then values and
positions are built from them) is most of what ``agentform validate`` spends. A file whose top
level is a block mapping can be cut at the start of any line that begins an entry of one of its
sections (``  name:`` at the indentation of the section's first entry), and each part parsed on
its own: the first part as written, every later part behind a padding that restores the
section's key and keeps every line, column and character offset where it was. Forked children
parse the later parts and send back only their values and which strings hold ``${``; their
positions stay behind as a :class:`~agentform.spec.sourcemap.DeferredPart`, computed here only if
a diagnostic or an overlay asks for one of them.

Whether a cut was safe is checked, not assumed: every part must parse without a single problem,
the first must end inside the section and every later part begin in it, no name and no
top-level key may appear in two parts, and the node budget must hold for the whole. Otherwise
(a quoted string or flow collection open across a cut, an anchor anywhere in the file,
directives, document markers, line breaks other than ``\\n``, a child that failed) the file is
parsed in one piece by :func:`~agentform.spec.document.parse_document`, so values, positions and
diagnostics are always exactly what that function gives. Called by :mod:`agentform.spec.files`.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentform.diagnostics import Diagnostic
from agentform.spec.document import MAX_NODES, build_document, parse_document
from agentform.spec.forking import Forked, abandon, can_fork, collect, fork_call, usable_cpus
from agentform.spec.sourcemap import DeferredPart, Mark, Path, Positions, SourceMap

__all__ = ["MAX_PARTS", "MIN_PART_CHARS", "Cuts", "Once", "parse_large", "parse_parts", "plan_cuts"]

MIN_PART_CHARS = 512 * 1024  # a part parses in ≈ 50 ms; smaller ones gain less than a fork costs
MAX_PARTS = 8

_TOP = re.compile(r"\n[^ \n#][^\n]*")  # after its line break: a line at column 0, not a comment
_SECTION = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*):[ ]*(?:#.*)?")  # "key:", its value below
_SETTING = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*: .*")  # "key: value" on one line
_FIRST = re.compile(r"^( +)(?=[^ \n#])", re.MULTILINE)  # a line that is not blank or a comment
_ODD_BREAKS = ("\r", "\x85", "\u2028", "\u2029")


@dataclass(frozen=True)
class Cuts:
    """Where to cut a file: the section ``key`` whose entries the cuts fall between, and the
    offsets (each the start of a line) where the second, third ... part begin."""

    key: str
    offsets: tuple[int, ...]


class Once:
    """A callable that calls ``fn`` the first time it is called, and does nothing after."""

    def __init__(self, fn: Callable[[], object] | None) -> None:
        self._fn = fn

    def __call__(self) -> None:
        fn, self._fn = self._fn, None
        if fn is not None:
            fn()


def parse_large(
    text: str, file: str, smap: SourceMap, *, meanwhile: Callable[[], object] | None = None
) -> tuple[Any, list[Diagnostic]]:
    """:func:`~agentform.spec.document.parse_document`, in parts on several CPUs when the
    file is large enough and this process may fork. ``meanwhile`` is called while the other
    parts are parsed (only then)."""
    parts = _parts_for(text)
    if parts > 1:
        cuts = plan_cuts(text, parts)
        if cuts is not None:
            value = parse_parts(text, file, smap, cuts, meanwhile=meanwhile)
            if value is not None:
                return value, []
    return parse_document(text, file, smap)


def _parts_for(text: str) -> int:
    if len(text) < 2 * MIN_PART_CHARS or not can_fork():
        return 1
    return min(usable_cpus(), len(text) // MIN_PART_CHARS, MAX_PARTS)


def plan_cuts(text: str, parts: int) -> Cuts | None:
    """Up to ``parts - 1`` cuts near equal shares of ``text``, or ``None`` when the file does
    not have the plain shape this needs (a block mapping of sections, no anchors)."""
    if parts < 2 or "&" in text or any(c in text for c in _ODD_BREAKS):
        return None
    # (start, end) of each line at column 0 that is not a comment (searched from a line break
    # before the text, since a pattern that starts with a literal is searched for fast)
    tops = [(m.start(), m.end() - 1) for m in _TOP.finditer("\n" + text)]
    sections: list[tuple[str, int, int]] = []  # key, body start, body end
    for i, (start, end) in enumerate(tops):
        line = text[start:end]
        section = _SECTION.fullmatch(line)
        if section is None:
            if _SETTING.fullmatch(line) is None:
                return None  # '---', '%YAML', '- item', '? key', quotes, flow ...: not plain
            continue
        body_end = tops[i + 1][0] if i + 1 < len(tops) else len(text)
        sections.append((section.group(1), end + 1, body_end))
    if not sections:
        return None
    key, start, end = max(sections, key=lambda s: s[2] - s[1])
    first = _FIRST.search(text, start, end)
    if first is None or not _is_name_start(text, first.end()):
        return None  # the section holds a list, a flow collection or a scalar
    entry = re.compile(rf"\n {{{len(first.group(1))}}}(?=[A-Za-z0-9_])")
    offsets: list[int] = []
    for i in range(1, parts):
        found = entry.search(text, max(len(text) * i // parts, first.end()) - 1, end)
        if found is None:
            break
        cut = found.start() + 1
        if not offsets or cut > offsets[-1]:
            offsets.append(cut)
    return Cuts(key, tuple(offsets)) if offsets else None


def _is_name_start(text: str, offset: int) -> bool:
    return offset < len(text) and (text[offset].isalnum() or text[offset] == "_")


def padded(text: str, key: str, start: int, stop: int) -> str:
    """``text[start:stop]`` behind a padding as long as ``text[:start]`` with as many lines,
    whose last line is ``key:``: parsed alone, it yields ``{key: {...its entries}, ...}``
    with every position as in the whole file."""
    lines = text.count("\n", 0, start)
    spaces = start - lines - len(key) - 1
    if lines < 1 or spaces < 0:
        raise ValueError("a cut must come after the section's key line")
    return "\n" * (lines - 1) + key + ":" + " " * spaces + "\n" + text[start:stop]


@dataclass
class _Part:
    value: dict[str, Any]
    templated: list[Path]
    nodes: int
    # where each entry of the section, then each later top-level key, starts (its line's first
    # character): the pieces whose positions can be computed alone
    starts: list[int]


def _parse_part(text: str, file: str, key: str, start: int, stop: int) -> _Part | None:
    """Parse one later part; ``None`` when it has a problem or is not entries of ``key``."""
    local = SourceMap()
    value, diagnostics, nodes = build_document(padded(text, key, start, stop), file, local)
    if diagnostics or not isinstance(value, dict) or not isinstance(value.get(key), dict):
        return None
    if next(iter(value)) != key:
        return None
    keys = local.keys
    starts = [keys[(key, name)].index - keys[(key, name)].column for name in value[key]]
    starts += [keys[(top,)].index for top in value if top != key]
    return _Part(value, list(local.templated), nodes, starts)


def _positions(text: str, file: str, key: str, start: int, stop: int) -> Callable[[], Positions]:
    """The positions of a whole later part (its padding's root and section key left out)."""

    def compute() -> Positions:
        local = SourceMap()
        build_document(padded(text, key, start, stop), file, local)
        for outside in ((), (key,)):
            local.values.pop(outside, None)
            local.keys.pop(outside, None)
        return local.values, local.keys

    return compute


def _piece(text: str, file: str, section: str | None, start: int, stop: int) -> Positions:
    """The positions of the lines ``text[start:stop]``: one entry of ``section``, or (``None``)
    one top-level key with its value; parsed alone, then moved to where they are in the file."""
    return _parse_piece(text, file, section, start, stop)[2]


def _parse_piece(
    text: str,
    file: str,
    section: str | None,
    start: int,
    stop: int,
    lines_before: int | None = None,
) -> tuple[Any, list[Diagnostic], Positions]:
    head = "" if section is None else f"{section}:\n"
    local = SourceMap()
    value, diagnostics, _ = build_document(head + text[start:stop], file, local)
    if lines_before is None:
        lines_before = text.count("\n", 0, start)
    lines = lines_before - head.count("\n")
    offset = start - len(head)
    depth = 1 if section is None else 2  # what is above that is the head's, not the file's

    def moved(found: dict[Path, Any]) -> dict[Path, Any]:
        return {
            path: Mark(mark.name, mark.line + lines, mark.column, mark.index + offset)
            for path, mark in found.items()
            if len(path) >= depth
        }

    return value, diagnostics, (moved(local.values), moved(local.keys))


_LINE = re.compile(r"^([ ]*)(\S?)", re.M)


@dataclass
class _Entries:
    """The positions of one entry of the top-level mapping ``section`` (written in
    ``text[start:stop]``) from the few lines of that entry alone: found by its key at the
    section's indentation, ended by the next line as little indented, and trusted only if those
    lines parse, alone, to exactly the entry's value; ``None`` otherwise (a quoted key, a
    look-alike line inside a string...), and the caller parses the whole section."""

    text: str
    file: str
    section: str
    start: int
    stop: int
    entries: dict[str, Any]
    _lines: int | None = None
    _found: dict[str, Positions | None] = field(default_factory=dict)

    def __call__(self, name: str) -> Positions | None:
        if name not in self._found:
            self._found[name] = self._find(name) if name in self.entries else None
        return self._found[name]

    def _find(self, name: str) -> Positions | None:
        text, start, stop = self.text, self.start, self.stop
        first = text.find("\n", start, stop) + 1
        indent = next(
            (m.group(1) for m in _LINE.finditer(text, first, stop) if m.group(2) not in ("", "#")),
            "",
        )
        if not first or not indent:
            return None
        if self._lines is None:  # counted once per section, then from the section's start
            self._lines = text.count("\n", 0, start)
        key = re.compile(rf"^{indent}{re.escape(name)}[ \t]*:", re.M)
        for found in key.finditer(text, first, stop):
            end, after = stop, text.find("\n", found.start(), stop) + 1
            for line in _LINE.finditer(text, after or stop, stop):
                if line.group(2) not in ("", "#") and len(line.group(1)) <= len(indent):
                    end = line.start()
                    break
            lines = self._lines + text.count("\n", start, found.start())
            value, problems, positions = _parse_piece(
                text, self.file, self.section, found.start(), end, lines
            )
            if not problems and value == {self.section: {name: self.entries[name]}}:
                return positions
        return None


def _deferred(text: str, file: str, key: str, part: _Part, start: int, stop: int) -> DeferredPart:
    roots: list[Path] = [(key, name) for name in part.value[key]]
    roots += [(top,) for top in part.value if top != key]
    ends = [*part.starts[1:], stop]
    pieces: dict[Path, Callable[[], Positions]] = {
        root: functools.partial(_piece, text, file, key if len(root) == 2 else None, begin, end)
        for root, begin, end in zip(roots, part.starts, ends, strict=True)
    }
    # a diagnostic in another section (policies, schedules...) needs its one entry, not the
    # whole section: on a 10,000-agent spec a section is 30 ms to parse, an entry well under 1
    entries: dict[Path, Callable[[str], Positions | None]] = {
        root: _Entries(text, file, str(root[0]), begin, end, part.value[str(root[0])])
        for root, begin, end in zip(roots, part.starts, ends, strict=True)
        if len(root) == 1 and isinstance(part.value[str(root[0])], dict)
    }
    return DeferredPart(pieces, _positions(text, file, key, start, stop), entries=entries)


def parse_parts(
    text: str,
    file: str,
    smap: SourceMap,
    cuts: Cuts,
    *,
    meanwhile: Callable[[], object] | None = None,
) -> Any | None:
    """Parse ``text`` in the parts ``cuts`` gives, the later ones in forked children (this
    process parses the first, then calls ``meanwhile``, then collects the others).

    Returns the document's value with positions recorded in ``smap`` as
    :func:`~agentform.spec.document.parse_document` would (the later parts' deferred), or
    ``None``, with ``smap`` untouched, when a part failed or a check did not hold: then the
    caller parses the file in one piece.
    """
    key = cuts.key
    bounds = [*cuts.offsets, len(text)]
    jobs: list[Forked | None] = []
    parts: list[_Part] = []
    try:
        for start, stop in itertools.pairwise(bounds):
            jobs.append(fork_call(_job(text, file, key, start, stop)))
        mine = SourceMap()
        value, diagnostics, nodes = build_document(text[: bounds[0]], file, mine)
        if diagnostics or not isinstance(value, dict) or not value or next(reversed(value)) != key:
            return None
        section = value[key]
        if not isinstance(section, dict):
            return None
        if meanwhile is not None and any(jobs):
            meanwhile()
        for index, job in enumerate(jobs):
            jobs[index] = None
            found = collect(job) if job is not None else (False, None)
            start, stop = bounds[index : index + 2]
            part = found[1] if found[0] else _parse_part(text, file, key, start, stop)
            if not isinstance(part, _Part):
                return None
            parts.append(part)
    finally:
        for job in jobs:
            if job is not None:
                abandon(job)
    if nodes + sum(p.nodes for p in parts) > MAX_NODES:
        return None
    merged: dict[str, Any] = {}
    for index, part in enumerate(parts):
        names = part.value[key]
        later = [k for k in part.value if k != key]
        if names.keys() & section.keys() or names.keys() & merged.keys():
            return None  # a name in two parts: the one-piece parse reports the duplicate
        if later and (index < len(parts) - 1 or any(k in value for k in later)):
            return None
        merged.update(names)
    section.update(merged)
    deferred = []
    for index, part in enumerate(parts):
        for top, item in part.value.items():
            if top != key:
                value[top] = item
        deferred.append(_deferred(text, file, key, part, *bounds[index : index + 2]))
        mine.templated.update(part.templated)
    smap.texts[file] = text
    smap.values.update(mine.values)
    smap.keys.update(mine.keys)
    smap.templated.update(mine.templated)
    smap.deferred.extend(deferred)
    return value


def _job(text: str, file: str, key: str, start: int, stop: int) -> Callable[[], _Part | None]:
    return lambda: _parse_part(text, file, key, start, stop)
