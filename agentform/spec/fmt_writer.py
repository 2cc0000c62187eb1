"""The writer of ``agentform fmt``: the tree of one spec file emitted as canonical text.

Owns :class:`Writer`, which walks the tree :mod:`agentform.spec.fmt_tree` read (the nodes of
:mod:`.fmt_nodes`) and emits block mappings indented by two spaces, block sequences indented
under their key, entries in the canonical order (:mod:`.fmt_order`), full-line comments
re-indented to the entry they describe, end-of-line comments at their source column when they
fit, runs of blank lines collapsed to one, no trailing whitespace and one final newline.
Scalars, aliases and flow collections are copied from the source character for character (the
keys of a flow mapping with a known shape are reordered when no comment sits between them);
``|``/``>`` scalars are re-indented line by line. Raises :class:`Unsupported` for what it does
not handle. Called by :func:`agentform.spec.fmt.format_text`.
"""

from __future__ import annotations

from agentform.spec.fmt_nodes import (
    Block,
    BlockScalar,
    Document,
    Entry,
    Leaf,
    Unsupported,
    column_at,
)
from agentform.spec.fmt_order import SPEC_SHAPE, KeyOrder, Shape

__all__ = ["Writer"]


class Writer:
    """Emits the tree as canonical lines, copying scalars and flow collections from the source."""

    def __init__(self, text: str, document: Document) -> None:
        self.text = text
        self.out: list[str] = []
        self.keep_end = -1  # len(out) after a ``|+`` scalar: a blank line there would join it
        self.document = document
        self.key_order = KeyOrder(document)  # never moves an alias above its anchor

    def write(self) -> str:
        out, document = self.out, self.document
        self.comments(document.header, 0, first=True)
        root, entry = document.root, document.entry
        if isinstance(root, Block):
            self.block(root, 0, SPEC_SHAPE if root.is_map else None, first=not out)
        elif root is not None and entry is not None:
            for line in self.render(root, SPEC_SHAPE if root.is_map else None).split("\n"):
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
        shape: Shape | None,
        dash: int | None = None,
        first: bool = True,
    ) -> None:
        """Emit a block at ``indent``; with ``dash``, its first line also carries a seq's dash."""
        entries = block.entries
        order = None
        if block.is_map and shape is not None:
            keys = [e.key for e in entries if e.key is not None]
            order = self.key_order.order(keys, [e.value.end for e in entries], shape)
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

    def map_entry(self, entry: Entry, indent: int, shape: Shape | None) -> None:
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

    def seq_entry(self, entry: Entry, indent: int, shape: Shape | None) -> None:
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
        shape: Shape | None,
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

    def render(self, leaf: Leaf, shape: Shape | None) -> str:
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
                order = self.key_order.order(keys, [end for _, end in slots], shape)
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
