"""Where every value of a loaded spec came from.

A :class:`SourceMap` maps a *path* into the loaded document (``("agents", "triage", "tools", 0)``)
to the :class:`~agentform.diagnostics.Location` of its value, and separately of its key, and keeps
the text of every file read so diagnostics can quote the offending line. Built by
:mod:`agentform.spec.document` while composing YAML, merged by the loader and overlays, and read
by validation and checks to place their diagnostics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentform.diagnostics import Location

__all__ = ["Path", "SourceMap"]

Path = tuple[str | int, ...]


@dataclass(slots=True)
class SourceMap:
    values: dict[Path, Location] = field(default_factory=dict)
    keys: dict[Path, Location] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)

    def value(self, path: Path) -> Location | None:
        """The location of the value at ``path``, or of its nearest located ancestor."""
        values = self.values
        p = path
        while True:
            loc = values.get(p)
            if loc is not None or not p:
                return loc
            p = p[:-1]

    def key(self, path: Path) -> Location | None:
        """The location of the key that introduces ``path`` (falls back to the value)."""
        loc = self.keys.get(path)
        return loc if loc is not None else self.value(path)

    def update(self, other: SourceMap) -> None:
        self.values.update(other.values)
        self.keys.update(other.keys)
        self.texts.update(other.texts)

    def rebase(self, old: Path, new: Path) -> SourceMap:
        """Locations under ``old`` re-keyed under ``new`` (used to apply environment overlays)."""
        n = len(old)
        out = SourceMap(texts=self.texts)
        for p, loc in self.values.items():
            if p[:n] == old:
                out.values[new + p[n:]] = loc
        for p, loc in self.keys.items():
            if p[:n] == old:
                out.keys[new + p[n:]] = loc
        return out

    def copy(self) -> SourceMap:
        return SourceMap(dict(self.values), dict(self.keys), self.texts)
