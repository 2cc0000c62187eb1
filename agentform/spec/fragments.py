"""Merging spec fragments: the documents of several files (and their includes) into one.

This module owns :class:`Fragments`, the document merged so far and the :class:`SourceMap` of
where its parts came from. Named sections (``agents``, ``tools`` ...) and the maps inside
``access`` are unions where a name defined twice is an error (AF012) reported at the later
definition; ``include`` entries accumulate; any other (singular) setting such as ``project`` or
``target`` must have the same value in every file that sets it. Locations of what was not merged
are dropped, so a diagnostic never points at a definition that lost. Pure: it reads no file.
Called by :mod:`agentform.spec.files`, which reads each file and hands its document over in
include order.
"""

from __future__ import annotations

from typing import Any

from agentform.addresses import KIND_OF_SECTION
from agentform.diagnostics import Diagnostic, Location, Severity
from agentform.spec.sourcemap import SourceMap

__all__ = ["Fragments"]

_NAMED = frozenset(KIND_OF_SECTION)  # named maps merge as unions across files


class Fragments:
    """The merged document and its locations; :meth:`add` merges one more file's document."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {}
        self.smap = SourceMap()

    def add(self, value: dict[str, Any], local: SourceMap) -> list[Diagnostic]:
        """Merge one file's document (``local``: its locations); return the conflicts found."""
        problems: list[Diagnostic] = []
        doc = self.document
        skipped: set[tuple[str, ...]] = set()
        for key, item in value.items():
            if key == "include":
                doc.setdefault("include", [])
                doc["include"] = doc["include"] + (
                    [item]
                    if isinstance(item, str)
                    else list(item)
                    if isinstance(item, list)
                    else []
                )
                skipped.add(("include",))
                continue
            if key in _NAMED and isinstance(item, dict) and isinstance(doc.get(key), dict):
                for name, body in item.items():
                    if name in doc[key]:
                        prev = self.smap.key((key, name))
                        problems.append(
                            _conflict(
                                f"{key}.{name} is defined more than once",
                                local.key((key, name)),
                                f"it is already defined at {prev}; names must be unique "
                                "across all spec files",
                                prev,
                            )
                        )
                        skipped.add((key, name))
                    else:
                        doc[key][name] = body
                continue
            if key in _NAMED and isinstance(item, dict) and key not in doc:
                doc[key] = dict(item)
                continue
            if key == "access" and isinstance(item, dict) and isinstance(doc.get(key), dict):
                self._add_access(item, local, skipped, problems)
                continue
            if key in doc:
                if doc[key] != item:
                    prev = self.smap.key((key,))
                    problems.append(
                        _conflict(
                            f"{key!r} is set differently in two spec files",
                            local.key((key,)),
                            f"it is already set at {prev}; set it in one file only",
                            prev,
                        )
                    )
                skipped.add((key,))
                continue
            doc[key] = item
        self._add_locations(value, local, skipped)
        return problems

    def _add_access(
        self,
        item: dict[str, Any],
        local: SourceMap,
        skipped: set[tuple[str, ...]],
        problems: list[Diagnostic],
    ) -> None:
        access = dict(self.document["access"])
        for sub, entries in item.items():
            if isinstance(entries, dict) and isinstance(access.get(sub), dict):
                merged = dict(access[sub])
                for name, body in entries.items():
                    if name in merged:
                        prev = self.smap.key(("access", sub, name))
                        problems.append(
                            _conflict(
                                f"access.{sub}.{name} is defined more than once",
                                local.key(("access", sub, name)),
                                f"it is already defined at {prev}",
                                prev,
                            )
                        )
                        skipped.add(("access", sub, name))
                    else:
                        merged[name] = body
                access[sub] = merged
            elif sub not in access:
                access[sub] = entries
            else:
                skipped.add(("access", sub))
        self.document["access"] = access

    def _add_locations(
        self, value: dict[str, Any], local: SourceMap, skipped: set[tuple[str, ...]]
    ) -> None:
        """Take the locations of what was merged; those under ``skipped`` lost and stay out."""
        if skipped == {("include",)} or not skipped:  # the usual case: copy in bulk
            raw = value.get("include")
            count = len(raw) if isinstance(raw, list) else 0
            include_entries = [("include",), *((("include", i)) for i in range(count))]
            self.smap.values.update(local.values)
            self.smap.keys.update(local.keys)
            self.smap.templated.update(local.templated)
            for p in include_entries:  # include positions are file-local; never merged
                self.smap.values.pop(p, None)
                self.smap.keys.pop(p, None)
            for part in local.deferred:  # positions of a part parsed elsewhere, not yet computed
                part.dropped.update(include_entries)
                self.smap.deferred.append(part)
            return
        local.settle()  # every position, to pick those that are merged
        for p, loc in local.values.items():
            if not _under(p, skipped):
                self.smap.values[p] = loc
        for p, loc in local.keys.items():
            if not _under(p, skipped):
                self.smap.keys[p] = loc
        self.smap.templated.update(p for p in local.templated if not _under(p, skipped))


def _conflict(summary: str, at: Location | None, hint: str, prev: Location | None) -> Diagnostic:
    return Diagnostic(
        Severity.ERROR,
        "AF012",
        summary,
        location=at,
        hint=hint,
        related=(prev,) if prev else (),
    )


def _under(path: tuple[Any, ...], prefixes: set[tuple[str, ...]]) -> bool:
    return any(path[: len(p)] == p for p in prefixes) if prefixes else False
