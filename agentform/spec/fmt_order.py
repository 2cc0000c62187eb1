"""The canonical order of a spec file's keys for ``agentform fmt``, derived from the models.

Owns :class:`Shape` (the rank of each key of a model's mapping, and the shape of each value or
item inside), :data:`SPEC_SHAPE` (the shape of a whole spec file, from
:class:`agentform.spec.models.Spec`; an environment overlay is shaped like the spec it
overlays) and :class:`KeyOrder`, which puts a mapping's entries in that order: ``<<`` merge keys
first, then the fields of the model in their declared order, unknown keys last in their own
order; a map of names (agents, tools ...) keeps the user's order, and an entry never moves above
the anchor an alias in it refers to. Called by the writer, :mod:`agentform.spec.fmt_writer`.
"""

from __future__ import annotations

import types
import typing
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from itertools import pairwise

from pydantic import BaseModel

from agentform.spec.fmt_nodes import Document, Leaf
from agentform.spec.models import EnvironmentOverlay, Spec

__all__ = ["SPEC_SHAPE", "KeyOrder", "Shape"]


@dataclass(frozen=True, slots=True)
class Shape:
    """The canonical key order of a model's mapping, or the shape of each value/item inside."""

    rank: dict[str, int] = field(default_factory=dict)
    fields: dict[str, Shape | None] = field(default_factory=dict)
    each: Shape | None = None

    def child(self, key: str | None) -> Shape | None:
        if self.rank:
            return self.fields.get(key) if key is not None else None
        return self.each


# An overlay's sections are typed loosely (``null`` removes a key) but hold the same resources
# as the sections they overlay, so they are formatted like those.
_FIELD_TYPES_FROM: dict[type[BaseModel], type[BaseModel]] = {EnvironmentOverlay: Spec}
_shapes: dict[type[BaseModel], Shape] = {}


def _model_shape(model: type[BaseModel]) -> Shape:
    if model not in _shapes:
        typed_by = _FIELD_TYPES_FROM.get(model, model)
        names = list(model.model_fields)
        _shapes[model] = Shape(
            rank={name: i for i, name in enumerate(names)},
            fields={n: _shape_of(typed_by.model_fields[n].annotation) for n in names},
        )
    return _shapes[model]


def _shape_of(annotation: object) -> Shape | None:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        shapes = [s for s in map(_shape_of, args) if s is not None]
        return shapes[0] if shapes else None
    if origin in (dict, list):
        each = _shape_of(args[-1]) if args else None
        return Shape(each=each) if each is not None else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _model_shape(annotation)
    return None


SPEC_SHAPE = _model_shape(Spec)


class KeyOrder:
    """Canonical positions of the entries of one document's mappings.

    Reordering must not move an alias above its anchor: an entry that defines an anchor stays
    before every entry of the same mapping that uses it.
    """

    def __init__(self, document: Document) -> None:
        self.uses = document.aliases  # in source order
        self.use_positions = [pos for pos, _ in self.uses]
        self.definitions = document.anchors

    def order(self, keys: list[Leaf], ends: list[int], shape: Shape) -> list[int] | None:
        """Canonical positions of a mapping's entries, or None to keep the source order."""
        rank = shape.rank
        if not rank:
            return None  # a map of names: the user's order is the order
        last = len(rank)
        ranks = [
            -1
            if key.plain and key.key == "<<"
            else last
            if key.key is None
            else rank.get(key.key, last)
            for key in keys
        ]
        if all(a <= b for a, b in pairwise(ranks)):
            return None
        order = sorted(range(len(keys)), key=ranks.__getitem__)
        if self.uses:
            order = self.anchors_first([k.start for k in keys], ends, order)
        return None if order == sorted(order) else order

    def anchors_first(self, starts: list[int], ends: list[int], order: list[int]) -> list[int]:
        """``order``, except that an entry defining an anchor moves up to before its first alias."""
        begin, end = starts[0], ends[-1]
        needs: dict[int, list[int]] = {}
        low = bisect_left(self.use_positions, begin)
        for at, name in self.uses[low : bisect_left(self.use_positions, end)]:
            defined = self.definitions.get(name, -1)
            if begin <= defined < end:
                i, j = bisect_right(starts, defined) - 1, bisect_right(starts, at) - 1
                if i != j:
                    needs.setdefault(j, []).append(i)
        if not needs:
            return order
        placed: set[int] = set()
        result: list[int] = []

        def place(i: int) -> None:
            # an alias follows its anchor in the source, so these needs never form a cycle
            if i not in placed:
                placed.add(i)
                for other in needs.get(i, ()):
                    place(other)
                result.append(i)

        for i in order:
            place(i)
        return result
