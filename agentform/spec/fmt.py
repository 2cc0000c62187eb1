"""Canonical formatting of one spec file's text that keeps every comment: ``agentform fmt``.

Owns :func:`format_text`, :func:`diff` and :class:`FormatError`, the canonical key order derived
from :mod:`agentform.spec.models`, and the writer that emits the canonical text; the CLI's
``fmt`` command calls them and does all file I/O. Reading the text into blocks and leaves with
their comments attached is :mod:`agentform.spec.fmt_tree`. The canonical form: block mappings
indented by two spaces, block sequences indented under their key (``key:`` / ``  - item``),
sections and the keys of every resource in the order of the fields of the models (``<<`` merge
keys first, unknown keys last in their own order, names of agents, tools... in the user's
order), full-line comments re-indented to the entry they describe, runs of blank lines collapsed
to one, no trailing whitespace and one final newline.

ruamel's round trip is not used: it takes about a minute for 5 MB, ties a comment to the key
*before* it (so comments move with the wrong key when keys are reordered), keeps full-line
comments at their old indentation and rewrites ``~``/``null`` as empty values. Only block
structure is re-emitted: scalars, aliases and flow collections (``[kb, refunds]``) are copied
from the source character for character, so quoting, number formats and ``{{ }}`` /
``${var.x}`` text cannot change, and PyYAML reads the same values before and after. Block
scalars (``|``, ``>``) are re-indented line by line. A document using a construct the writer
does not handle (complex keys, properties on the root node) comes back unchanged rather than
wrong.
"""

from __future__ import annotations

import difflib
import types
import typing
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from itertools import pairwise

from pydantic import BaseModel

from agentform.spec.fmt_nodes import (
    Block,
    BlockScalar,
    Document,
    Entry,
    InvalidText,
    Leaf,
    Unsupported,
    column_at,
)
from agentform.spec.fmt_tree import read_document
from agentform.spec.models import EnvironmentOverlay, Spec

__all__ = ["FormatError", "diff", "format_text"]


class FormatError(ValueError):
    """The text is not one valid YAML document with unique keys; line and column are 1-based."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"{line}:{column}: {message}")
        self.message = message
        self.line = line
        self.column = column


# -- the order of keys, derived from the pydantic models ------------------------------------


@dataclass(frozen=True, slots=True)
class _Shape:
    """The canonical key order of a model's mapping, or the shape of each value/item inside."""

    rank: dict[str, int] = field(default_factory=dict)
    fields: dict[str, _Shape | None] = field(default_factory=dict)
    each: _Shape | None = None

    def child(self, key: str | None) -> _Shape | None:
        if self.rank:
            return self.fields.get(key) if key is not None else None
        return self.each


# An overlay's sections are typed loosely (``null`` removes a key) but hold the same resources
# as the sections they overlay, so they are formatted like those.
_FIELD_TYPES_FROM: dict[type[BaseModel], type[BaseModel]] = {EnvironmentOverlay: Spec}
_shapes: dict[type[BaseModel], _Shape] = {}


def _model_shape(model: type[BaseModel]) -> _Shape:
    if model not in _shapes:
        typed_by = _FIELD_TYPES_FROM.get(model, model)
        names = list(model.model_fields)
        _shapes[model] = _Shape(
            rank={name: i for i, name in enumerate(names)},
            fields={n: _shape_of(typed_by.model_fields[n].annotation) for n in names},
        )
    return _shapes[model]


def _shape_of(annotation: object) -> _Shape | None:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        shapes = [s for s in map(_shape_of, args) if s is not None]
        return shapes[0] if shapes else None
    if origin in (dict, list):
        each = _shape_of(args[-1]) if args else None
        return _Shape(each=each) if each is not None else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _model_shape(annotation)
    return None


_SPEC_SHAPE = _model_shape(Spec)


# -- the canonical text -----------------------------------------------------------------------


class _Writer:
    """Emits the tree as canonical lines, copying scalars and flow collections from the source."""

    def __init__(self, text: str, document: Document) -> None:
        self.text = text
        self.out: list[str] = []
        self.keep_end = -1  # len(out) after a ``|+`` scalar: a blank line there would join it
        self.document = document
        # reordering must not move an alias above its anchor
        self.uses = document.aliases  # in source order
        self.use_positions = [pos for pos, _ in self.uses]
        self.definitions = document.anchors

    def write(self) -> str:
        out, document = self.out, self.document
        self.comments(document.header, 0, first=True)
        root, entry = document.root, document.entry
        if isinstance(root, Block):
            self.block(root, 0, _SPEC_SHAPE if root.is_map else None, first=not out)
        elif root is not None and entry is not None:
            for line in self.render(root, _SPEC_SHAPE if root.is_map else None).split("\n"):
                out.append(_rstrip(line))
            out[-1] = _with_comment(out[-1], entry.eol)
        self.comments(document.trailer, 0)
        while out and not out[-1] and len(out) > self.keep_end:
            out.pop()
        return "\n".join(out) + "\n" if out else ""

    def comments(self, lines: list[str] | None, indent: int, first: bool = False) -> None:
        if not lines:
            return
        out = self.out
        for line in lines:
            if line:
                out.append(" " * indent + line)
                first = False
            elif not first and out and out[-1] and len(out) != self.keep_end:
                out.append("")

    def block(
        self,
        block: Block,
        indent: int,
        shape: _Shape | None,
        dash: int | None = None,
        first: bool = True,
    ) -> None:
        """Emit a block at ``indent``; with ``dash``, its first line also carries a seq's dash."""
        entries = block.entries
        order = None
        if block.is_map and shape is not None:
            keys = [e.key for e in entries if e.key is not None]
            order = self.order(keys, [e.value.end for e in entries], shape)
        out = self.out
        for n, i in enumerate(order if order is not None else range(len(entries))):
            entry = entries[i]
            if entry.key_comment is not None and isinstance(entry.value, Leaf):
                if entry.eol is None and entry.value.scalar is None:
                    entry.eol = entry.key_comment  # ``key:  # note`` with the value below
                else:
                    entry.leading = [*(entry.leading or ()), entry.key_comment[0]]
                entry.key_comment = None
            mark = len(out)
            self.comments(entry.leading, indent, first=first and n == 0)
            child = shape.child(entry.key.key if entry.key else None) if shape else None
            if entry.key is not None:
                self.map_entry(entry, indent, child)
            else:
                self.seq_entry(entry, indent, child)
            if n == 0 and dash is not None:
                self.put_dash(mark, dash)
        self.comments(block.trailing, indent)

    def put_dash(self, mark: int, dash: int) -> None:
        """Turn the first content line from ``mark`` on into ``- content`` (a compact item)."""
        out = self.out
        for k in range(mark, len(out)):
            line = out[k].lstrip(" ")
            if line and not line.startswith("#"):
                out[k] = " " * dash + "- " + out[k][dash + 2 :]
                return
            if line:
                out[k] = " " * dash + line  # comments above the item line up with its dash

    def map_entry(self, entry: Entry, indent: int, shape: _Shape | None) -> None:
        assert entry.key is not None
        key = self.text[entry.key.start : entry.key.end]
        head = " " * indent + key + (" :" if key.startswith("*") else ":")
        value = entry.value
        if isinstance(value, Block):
            line = f"{head} {value.props}" if value.props else head
            self.out.append(_with_comment(line, entry.key_comment))
            self.block(value, indent + 2, shape)
        else:
            self.leaf(head, value, indent, entry.eol, shape)

    def seq_entry(self, entry: Entry, indent: int, shape: _Shape | None) -> None:
        value = entry.value
        if isinstance(value, Leaf):
            self.leaf(" " * indent + "-", value, indent, entry.eol, shape)
        elif value.props:  # ``- &anchor`` cannot share its line with the first key
            self.out.append(" " * indent + "- " + value.props)
            self.block(value, indent + 2, shape)
        else:
            self.block(value, indent + 2, shape, dash=indent)

    def leaf(
        self,
        head: str,
        leaf: Leaf,
        indent: int,
        eol: tuple[str, int] | None,
        shape: _Shape | None,
    ) -> None:
        out = self.out
        if leaf.scalar is not None:
            self.block_scalar(head, leaf.scalar, indent)
            return
        text = self.render(leaf, shape)
        if not text:
            out.append(_with_comment(head, eol))
            return
        first, newline, rest = text.partition("\n")
        if not newline:
            out.append(_with_comment(f"{head} {text}", eol))
            return
        # a scalar or flow collection over several lines: whitespace at the start of its
        # continuation lines is not part of any value, so they move with the node
        out.append(f"{head} {_rstrip(first)}")
        delta = len(head) + 1 - column_at(self.text, leaf.start)
        floor = indent + 2
        for line in rest.split("\n"):
            body = line.lstrip(" \t")
            if body:
                lead = max(len(line) - len(body) + delta, floor)
                out.append(" " * lead + _rstrip(body))
            else:
                out.append("")
        out[-1] = _with_comment(out[-1], eol)

    def block_scalar(self, head: str, scalar: BlockScalar, indent: int) -> None:
        out = self.out
        header = f"{scalar.props}{scalar.style}{scalar.digit}{scalar.chomp}{scalar.rest}"
        out.append(f"{head} {header.rstrip()}")
        pad = " " * (indent + (int(scalar.digit) if scalar.digit else 2))
        old = scalar.indent
        for line in scalar.lines:
            if scalar.is_empty(line):
                out.append("")
            elif line[:old].strip(" "):
                raise Unsupported  # cannot happen in a scalar libyaml accepted
            else:
                out.append(pad + line[old:])
        if scalar.chomp == "+":
            self.keep_end = len(out)

    def render(self, leaf: Leaf, shape: _Shape | None) -> str:
        """A leaf's text; the keys of flow mappings with a shape are put in canonical order."""
        text = self.text
        items = leaf.items
        if not items or shape is None:
            return text[leaf.start : leaf.end]
        slots: list[tuple[int, int]] = []
        pieces: list[str] = []
        order = None
        if leaf.is_map:
            keys, values = items[0::2], items[1::2]
            for key, value in zip(keys, values, strict=True):
                if value.end > value.start:
                    slots.append((key.start, value.end))
                    piece = self.render(value, shape.child(key.key))
                    pieces.append(text[key.start : value.start] + piece)
                else:
                    slots.append((key.start, key.end))
                    pieces.append(text[key.start : key.end])
            if self.movable(leaf, slots):
                order = self.order(keys, [end for _, end in slots], shape)
        else:
            for item in items:
                slots.append((item.start, item.end))
                pieces.append(self.render(item, shape.child(None)))
        if order is None:
            if all(p == text[a:b] for p, (a, b) in zip(pieces, slots, strict=True)):
                return text[leaf.start : leaf.end]
            order = list(range(len(slots)))
        parts = [text[leaf.start : slots[0][0]]]
        for n, i in enumerate(order):
            parts.append(pieces[i])
            parts.append(text[slots[n][1] : slots[n + 1][0] if n + 1 < len(slots) else leaf.end])
        return "".join(parts)

    def movable(self, leaf: Leaf, slots: list[tuple[int, int]]) -> bool:
        """Whether the pairs of a flow mapping can be swapped: ``{a: 1, b: 2}``, no comments."""
        text = self.text
        bounds = [leaf.start, *(p for slot in slots for p in slot), leaf.end]
        seps = ["".join(text[a:b].split()) for a, b in zip(bounds[0::2], bounds[1::2], strict=True)]
        return seps[0] == "{" and seps[-1] in ("}", ",}") and all(s == "," for s in seps[1:-1])

    def order(self, keys: list[Leaf], ends: list[int], shape: _Shape) -> list[int] | None:
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


def _rstrip(line: str) -> str:
    """Drop trailing blanks, but not the space of a ``\\ `` escape in a double-quoted scalar."""
    stripped = line.rstrip(" \t")
    if len(stripped) < len(line) and stripped.endswith("\\"):
        backslashes = len(stripped) - len(stripped.rstrip("\\"))
        if backslashes % 2:
            return line[: len(stripped) + 1]
    return stripped


def _with_comment(line: str, comment: tuple[str, int] | None) -> str:
    """Append an end-of-line comment at its source column when it fits, else two spaces on."""
    if comment is None:
        return line
    text, column = comment
    gap = column - len(line) if column > len(line) else 2
    return line + " " * gap + text


# -- the public API ---------------------------------------------------------------------------


def format_text(text: str) -> str:
    """Return the canonical form of one spec file's text; raise :class:`FormatError` if invalid.

    Idempotent, and ``yaml.safe_load`` reads the same value from the result as from ``text``.
    """
    source = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    try:
        return _Writer(source, read_document(source)).write()
    except InvalidText as error:
        raise FormatError(error.message, error.line, error.column) from None
    except Unsupported:
        return text


def diff(original: str, formatted: str, name: str) -> str:
    """A unified diff from ``original`` to ``formatted`` for ``fmt --check --diff``; "" if equal."""
    lines = difflib.unified_diff(
        _lines(original), _lines(formatted), fromfile=f"a/{name}", tofile=f"b/{name}"
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


def _lines(text: str) -> list[str]:
    """Split at "\n" only (``splitlines`` also splits at form feeds and other characters)."""
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]
