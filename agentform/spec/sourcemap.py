"""Where every value of a loaded spec came from.

A :class:`SourceMap` maps a *path* into the loaded document (``("agents", "triage", "tools", 0)``)
to the position of its value, and separately of its key, and keeps the text of every file read so
diagnostics can quote the offending line. Built by :mod:`agentform.spec.document` while composing
YAML, merged by the loader and overlays, and read by validation and checks to place their
diagnostics.

Positions are stored as they come from the YAML parser (its marks, which already name their file)
and turned into :class:`~agentform.diagnostics.Location` only when a diagnostic asks: a large spec
has hundreds of thousands of nodes and almost none of them is ever reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentform.diagnostics import Location

__all__ = ["Path", "Position", "SourceMap"]

Path = tuple[str | int, ...]
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # what YAML counts as a new line


class Position(Protocol):
    """A YAML parser mark: file name and 0-based line and column."""

    name: str
    line: int
    column: int


@dataclass(slots=True)
class SourceMap:
    values: dict[Path, Any] = field(default_factory=dict)  # Position or Location
    keys: dict[Path, Any] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    _ends: dict[str, Location] = field(default_factory=dict)
    # paths of the string values that contain "${": what interpolation has to visit
    templated: set[Path] = field(default_factory=set)

    def locate(self, position: Position | Location | None) -> Location | None:
        """The :class:`Location` of a stored position (1-based, clamped to the file's end)."""
        if position is None or isinstance(position, Location):
            return position
        end = self.end(position.name)
        if end is not None and position.line + 1 > end.line:
            # libyaml marks "end of file" on the line after a last line without a line break
            return end
        return Location(position.name, position.line + 1, position.column + 1)

    def end(self, file: str) -> Location | None:
        """Where ``file`` ends: its last line, one column past its last character."""
        if file not in self._ends:
            text = self.texts.get(file)
            if text is None:
                return None
            lines = _LINE_BREAK.split(text)
            self._ends[file] = Location(file, len(lines), len(lines[-1]) + 1)
        return self._ends[file]

    def value(self, path: Path) -> Location | None:
        """The location of the value at ``path``, or of its nearest located ancestor."""
        values = self.values
        p = path
        while True:
            loc = values.get(p)
            if loc is not None or not p:
                return self.locate(loc)
            p = p[:-1]

    def key(self, path: Path) -> Location | None:
        """The location of the key that introduces ``path`` (falls back to the value)."""
        loc = self.keys.get(path)
        return self.locate(loc) if loc is not None else self.value(path)

    def update(self, other: SourceMap) -> None:
        self.values.update(other.values)
        self.keys.update(other.keys)
        self.texts.update(other.texts)
        self.templated.update(other.templated)

    def rebase(self, old: Path, new: Path) -> SourceMap:
        """Locations under ``old`` re-keyed under ``new`` (used to apply environment overlays)."""
        n = len(old)
        out = SourceMap(texts=self.texts, _ends=self._ends)
        out.templated = {new + p[n:] for p in self.templated if p[:n] == old}
        for p, loc in self.values.items():
            if p[:n] == old:
                out.values[new + p[n:]] = loc
        for p, loc in self.keys.items():
            if p[:n] == old:
                out.keys[new + p[n:]] = loc
        return out

    def copy(self) -> SourceMap:
        return SourceMap(
            dict(self.values), dict(self.keys), self.texts, self._ends, set(self.templated)
        )
