"""Where every value of a loaded spec came from.

A :class:`SourceMap` maps a *path* into the loaded document (``("agents", "triage", "tools", 0)``)
to the position of its value, and separately of its key, and keeps the text of every file read so
diagnostics can quote the offending line. Built by :mod:`agentform.spec.document` while composing
YAML, merged by the loader and overlays, and read by validation and checks to place their
diagnostics.

Positions are stored as they come from the YAML parser (its marks, which already name their file)
and turned into :class:`~agentform.diagnostics.Location` only when a diagnostic asks: a large spec
has hundreds of thousands of nodes and almost none of them is ever reported. For the same reason
the positions of a part of a large file parsed in another process (:mod:`agentform.spec.split`)
are not sent back: they are a :class:`DeferredPart`, computed here the first time a lookup falls
inside it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentform.diagnostics import Location

__all__ = ["DeferredPart", "Mark", "Path", "Position", "Positions", "SourceMap"]

Path = tuple[str | int, ...]
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # what YAML counts as a new line
_ANY: Any = object()  # "not given"


class Position(Protocol):
    """A YAML parser mark: file name and 0-based line and column."""

    name: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Mark:
    """A position computed here rather than by the parser (see :class:`DeferredPart`)."""

    name: str
    line: int
    column: int
    index: int


Positions = tuple[dict[Path, Any], dict[Path, Any]]  # of values, of keys


@dataclass(slots=True)
class DeferredPart:
    """Positions not computed yet: those under the roots of ``pieces`` (paths of one or two
    parts, such as ``("agents", "triage")`` or ``("policies",)``).

    ``pieces`` computes the positions under one root (a few lines of the file: what a
    diagnostic needs), ``whole`` all of them at once. Positions under ``dropped`` (file-local
    entries such as ``include``) are left out when they are added to a map.
    """

    pieces: dict[Path, Callable[[], Positions]]
    whole: Callable[[], Positions]
    dropped: set[Path] = field(default_factory=set)
    # for a top-level section's root (``("policies",)``): the positions of one of its entries
    # alone, by name, or None when they cannot be told apart from the section's other lines
    entries: dict[Path, Callable[[str], Positions | None]] = field(default_factory=dict)

    @property
    def roots(self) -> frozenset[Path]:
        return frozenset(self.pieces)

    def covers(self, path: Path) -> bool:
        """Whether the position of ``path`` is one of these."""
        return path[:2] in self.pieces or path[:1] in self.pieces

    def overlaps(self, path: Path) -> bool:
        """Whether any of these positions is at or under ``path``."""
        n = len(path)
        return self.covers(path) or any(root[:n] == path for root in self.pieces)

    def clone(self) -> DeferredPart:
        """A copy that computes and gives out its pieces independently of this one."""
        return DeferredPart(dict(self.pieces), self.whole, set(self.dropped), dict(self.entries))

    def take(self, path: Path | None) -> Positions:
        """The positions of the piece that covers ``path`` (of every piece left: ``None``);
        what is taken is not deferred any more."""
        if path is None:
            found = self.whole()
            self.pieces.clear()
            self.entries.clear()
        else:
            root = path[:2] if path[:2] in self.pieces else path[:1]
            entry = self.entries.get(root) if len(path) >= 2 else None
            one = entry(path[1]) if entry is not None and isinstance(path[1], str) else None
            if one is not None:  # the section stays deferred: only this entry is computed
                found = one
            else:
                found = self.pieces.pop(root)()
                self.entries.pop(root, None)
        for dropped in self.dropped:
            found[0].pop(dropped, None)
            found[1].pop(dropped, None)
        return found


@dataclass(slots=True)
class SourceMap:
    values: dict[Path, Any] = field(default_factory=dict)  # Position or Location
    keys: dict[Path, Any] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    _ends: dict[str, Location] = field(default_factory=dict)
    # paths of the string values that contain "${": what interpolation has to visit
    templated: set[Path] = field(default_factory=set)
    # locations not found in ``values``/``keys`` are looked up here (see :meth:`layered`)
    base: SourceMap | None = None
    # positions computed only when a lookup needs them (see :class:`DeferredPart`)
    deferred: list[DeferredPart] = field(default_factory=list)

    def settle(self, path: Path | None = None, *, under: bool = False) -> None:
        """Compute the deferred positions of ``path`` (or at or under it, with ``under``; all
        when ``None``), in this map and in the maps it reads through."""
        layer: SourceMap | None = self
        while layer is not None:
            if layer.deferred:
                for part in layer.deferred:
                    if path is None or (under and part.overlaps(path)):
                        found = part.take(None)
                    elif not under and part.covers(path):
                        found = part.take(path)
                    else:
                        continue
                    # what the map holds already wins (an overlay's positions in a flat copy)
                    for computed, mine in zip(found, (layer.values, layer.keys), strict=True):
                        for p, position in computed.items():
                            mine.setdefault(p, position)
                layer.deferred = [part for part in layer.deferred if part.pieces]
            layer = layer.base

    def _pending(self) -> bool:
        layer: SourceMap | None = self
        while layer is not None:
            if layer.deferred:
                return True
            layer = layer.base
        return False

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
            self._ends[file] = _end_of(file, text)
        return self._ends[file]

    def value(self, path: Path) -> Location | None:
        """The location of the value at ``path``, or of its nearest located ancestor."""
        if self._pending():
            self.settle(path)
        values = self.values
        base = self.base.values if self.base is not None else None
        p = path
        while True:
            loc = values.get(p)
            if loc is None and base is not None:
                loc = base.get(p)
            if loc is not None or not p:
                return self.locate(loc)
            p = p[:-1]

    def key(self, path: Path) -> Location | None:
        """The location of the key that introduces ``path`` (falls back to the value)."""
        if self._pending():
            self.settle(path)
        loc = self.keys.get(path)
        if loc is None and self.base is not None:
            loc = self.base.keys.get(path)
        return self.locate(loc) if loc is not None else self.value(path)

    def update(self, other: SourceMap) -> None:
        self.values.update(other.values)
        self.keys.update(other.keys)
        self.texts.update(other.texts)
        self.templated.update(other.templated)
        self.deferred.extend(part.clone() for part in other.deferred)

    def rebase(self, old: Path, new: Path, within: Any = _ANY) -> SourceMap:
        """Locations under ``old`` re-keyed under ``new`` (used to apply environment overlays).

        ``within``, when given, is the value at ``old`` as read: the reader records positions
        only for the nodes of that value, so its paths are looked up one by one instead of
        scanning every location of the spec.
        """
        if self._pending():
            self.settle(old, under=True)
        if within is not _ANY:
            return self._rebase_value(old, new, within)
        n = len(old)
        out = SourceMap(texts=self.texts, _ends=self._ends)
        all_values, all_keys = self.values, self.keys
        if self.base is not None:
            all_values = {**self.base.values, **self.values}
            all_keys = {**self.base.keys, **self.keys}
        out.templated = {new + p[n:] for p in self.templated if p[:n] == old}
        out.values = {new + p[n:]: loc for p, loc in all_values.items() if p[:n] == old}
        out.keys = {new + p[n:]: loc for p, loc in all_keys.items() if p[:n] == old}
        return out

    def _rebase_value(self, old: Path, new: Path, within: Any) -> SourceMap:
        out = SourceMap(texts=self.texts, _ends=self._ends)
        layers: list[SourceMap] = []
        layer: SourceMap | None = self
        while layer is not None:
            layers.append(layer)
            layer = layer.base
        templated = self.templated
        n = len(old)
        stack: list[tuple[Path, Any]] = [(old, within)]
        while stack:
            path, value = stack.pop()
            rebased = new + path[n:]
            for layer in layers:
                if path in layer.values:
                    out.values[rebased] = layer.values[path]
                    break
            for layer in layers:
                if path in layer.keys:
                    out.keys[rebased] = layer.keys[path]
                    break
            if path in templated:
                out.templated.add(rebased)
            if isinstance(value, dict):
                stack.extend(((*path, k), v) for k, v in value.items())
            elif isinstance(value, list):
                stack.extend(((*path, i), v) for i, v in enumerate(value))
        return out

    def copy(self) -> SourceMap:
        return SourceMap(
            dict(self.values),
            dict(self.keys),
            self.texts,
            self._ends,
            set(self.templated),
            self.base,
            [part.clone() for part in self.deferred],
        )

    def copy_flat(self) -> SourceMap:
        """A copy holding every location itself (none looked up in a base)."""
        if self.base is None:
            return self.copy()
        base = self.base.copy_flat()
        return SourceMap(
            {**base.values, **self.values},
            {**base.keys, **self.keys},
            self.texts,
            self._ends,
            set(self.templated),
            deferred=[part.clone() for part in (*base.deferred, *self.deferred)],
        )

    def layered(self) -> SourceMap:
        """A map that reads through to this one, for a build that adds a few locations (an
        environment's overlay): additions go to the new map only, and this one, possibly
        holding hundreds of thousands of locations, is neither copied nor changed."""
        return SourceMap(
            texts=self.texts, _ends=self._ends, templated=set(self.templated), base=self
        )


def _end_of(file: str, text: str) -> Location:
    """Last line and one column past its last character, line breaks counted as YAML does."""
    if "\r" in text or "\x85" in text or "\u2028" in text or "\u2029" in text:
        lines = _LINE_BREAK.split(text)
        return Location(file, len(lines), len(lines[-1]) + 1)
    # only "\n" breaks lines: count them instead of splitting a large file into a list
    return Location(file, text.count("\n") + 1, len(text) - text.rfind("\n"))
