"""The tree that ``agentform fmt`` reads from one spec file's text, with every comment attached.

Owns :func:`read_document`, which returns the nodes of :mod:`.fmt_nodes` (:class:`Document`,
:class:`Block`, :class:`Entry`, :class:`Leaf`, :class:`BlockScalar`); only
:mod:`agentform.spec.fmt` calls it, and its writer walks the tree. libyaml's events carry exact
source positions: block collections become blocks; scalars, aliases and flow collections become
leaves that point into the text; ``|``/``>`` scalars are split into lines. libyaml drops
comments, so :mod:`.fmt_comments` finds them between tokens and gives each to the entry it
describes. Anchors and aliases are recorded so that reordering keys cannot move an alias above
its anchor.

Raises :class:`InvalidText` for text that is not one YAML document with unique keys (``fmt``
re-raises it as ``FormatError``) and :class:`Unsupported` for valid YAML the writer does not
handle (complex keys, properties on the root node, line breaks other than ``\\n``).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from agentform.spec.fmt_comments import attach_comments
from agentform.spec.fmt_nodes import (
    Block,
    BlockScalar,
    Document,
    Entry,
    InvalidText,
    Leaf,
    Unsupported,
    column_at,
    is_empty_line,
    strip_comment,
)

__all__ = ["read_document"]

MAX_DEPTH = 200

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_HEADER = re.compile(r"((?:[&!]\S*[ \t]+)*)([|>])([1-9][+-]?|[+-][1-9]?|)(.*)")
_OTHER_BREAKS = re.compile("[\x85\u2028\u2029]")  # line breaks to YAML 1.1 besides \n


def read_document(text: str) -> Document:
    """The tree of ``text`` (line breaks already ``\\n``); see the module for what it raises."""
    parser = _Parser(text)
    try:
        if _OTHER_BREAKS.search(text):
            _ = list(yaml.parse(text, Loader=_Loader))  # still report invalid YAML
            raise Unsupported  # lines are counted by "\n" alone below
        document = Document(parser.document(), anchors=parser.anchors, aliases=parser.aliases)
        attach_comments(text, document)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        message = " ".join(p for p in (error.context, error.problem) if p) or str(error)
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        raise InvalidText(f"invalid YAML: {message}", line, column) from None
    except yaml.YAMLError as error:
        position: int = getattr(error, "position", 0)
        line = text.count("\n", 0, position) + 1
        raise InvalidText(f"invalid YAML: {error}", line, column_at(text, position) + 1) from None
    return document


def _pos(mark: Any) -> int:
    assert mark is not None
    return int(mark.index)


class _Parser:
    """Builds the tree from libyaml events; remembers anchors so reordering cannot break aliases."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.events = iter(yaml.parse(text, Loader=_Loader))
        self.depth = 0
        self.anchors: dict[str, int] = {}
        self.aliases: list[tuple[int, str]] = []

    def error(self, message: str, index: int) -> InvalidText:
        line = self.text.count("\n", 0, index) + 1
        return InvalidText(message, line, column_at(self.text, index) + 1)

    def document(self) -> Leaf | Block | None:
        event = next(self.events)
        assert isinstance(event, yaml.StreamStartEvent)
        event = next(self.events)
        if isinstance(event, yaml.StreamEndEvent):
            return None
        assert isinstance(event, yaml.DocumentStartEvent)
        root = self.node(next(self.events), -1)
        assert isinstance(next(self.events), yaml.DocumentEndEvent)
        event = next(self.events)
        if not isinstance(event, yaml.StreamEndEvent):
            raise self.error(
                "the file holds more than one YAML document; a spec file holds exactly one "
                "(remove the second '---' or move the document to its own file)",
                _pos(event.start_mark),
            )
        return root

    def node(self, event: yaml.Event, indent: int) -> Leaf | Block:
        start, end = _pos(event.start_mark), _pos(event.end_mark)
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in self.anchors:
                raise self.error(f"invalid YAML: found undefined alias {event.anchor!r}", start)
            self.aliases.append((start, event.anchor))
            return Leaf(start, end)
        assert isinstance(event, yaml.NodeEvent)
        if event.anchor is not None:
            if event.anchor in self.anchors:
                line = self.text.count("\n", 0, self.anchors[event.anchor]) + 1
                raise self.error(
                    f"invalid YAML: found duplicate anchor {event.anchor!r}; "
                    f"the first is on line {line}",
                    start,
                )
            self.anchors[event.anchor] = start
        if isinstance(event, yaml.ScalarEvent):
            leaf = Leaf(start, end, key=event.value, plain=not event.style)
            if event.style in ("|", ">"):
                self.block_scalar(leaf, indent)
            return leaf
        assert isinstance(event, yaml.CollectionStartEvent)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nesting deeper than {MAX_DEPTH} levels; flatten the spec", start)
        is_map = isinstance(event, yaml.MappingStartEvent)
        node = self.flow(start, is_map) if event.flow_style else self.block(event, is_map)
        self.depth -= 1
        return node

    def flow(self, start: int, is_map: bool) -> Leaf:
        items: list[Leaf] = []
        seen: dict[str, int] = {}
        while not isinstance(event := next(self.events), yaml.CollectionEndEvent):
            child = self.node(event, -1)
            if not isinstance(child, Leaf):
                raise Unsupported  # a block collection inside a flow one is not YAML
            if is_map and len(items) % 2 == 0:
                self.check_duplicate(child, seen)
            items.append(child)
        return Leaf(start, _pos(event.end_mark), items=items, is_map=is_map)

    def block(self, event: yaml.CollectionStartEvent, is_map: bool) -> Block:
        start, end = _pos(event.start_mark), _pos(event.end_mark)
        props = ""
        if event.anchor is not None or event.tag is not None:
            props = " ".join(t for t in strip_comment(self.text[start:end]).split() if t != "-")
            if len(props.split()) != (event.anchor is not None) + (event.tag is not None):
                raise Unsupported
        # a block sequence's start event ends just after its first dash (or is empty before it)
        block = Block(is_map, -1 if is_map else column_at(self.text, max(start, end - 1)), props)
        seen: dict[str, int] = {}
        while not isinstance(child := next(self.events), yaml.CollectionEndEvent):
            if is_map:
                key = self.node(child, -1)
                if not isinstance(key, Leaf) or "\n" in self.text[key.start : key.end]:
                    raise Unsupported  # a complex key (? [a, b]) or one over several lines
                if block.column < 0:
                    block.column = column_at(self.text, key.start)
                self.check_duplicate(key, seen)
                entry = Entry(key, self.node(next(self.events), block.column))
            else:
                entry = Entry(None, self.node(child, block.column))
            block.entries.append(entry)
        last = block.entries[-1].value
        block.end = last.end
        return block

    def check_duplicate(self, key: Leaf, seen: dict[str, int]) -> None:
        if key.key is None or (key.plain and key.key == "<<"):
            return
        if key.key in seen:
            line = self.text.count("\n", 0, seen[key.key]) + 1
            raise self.error(
                f"duplicate key {key.key!r}: it is already defined at line {line}; "
                "remove or rename one of them",
                key.start,
            )
        seen[key.key] = key.start

    def block_scalar(self, leaf: Leaf, parent_indent: int) -> None:
        """Split a ``|``/``>`` scalar into header and content lines; trim ignorable blank lines."""
        body = self.text[leaf.start : leaf.end]
        header, _, content = body.partition("\n")
        match = _HEADER.fullmatch(header)
        if match is None or parent_indent < 0:
            raise Unsupported  # a block scalar as the whole document or a flow key
        props, style, indicator, rest = match.groups()
        digit = "".join(c for c in indicator if c.isdigit())
        chomp = indicator.replace(digit, "")
        lines = content.split("\n") if content else []
        final_break = body.endswith("\n")
        if final_break:
            lines.pop()  # the text after the last line break is not a line
        if digit:
            indent = parent_indent + int(digit)
        else:
            indent = next((len(ln) - len(ln.lstrip(" ")) for ln in lines if ln.strip(" ")), 0)
        if chomp != "+":
            while lines and is_empty_line(lines[-1], indent):
                lines.pop()
                final_break = True
        if not final_break and lines:
            if chomp == "+" and is_empty_line(lines[-1], indent):
                raise Unsupported
            chomp = "-"  # no line break after the last line: written canonically, one is added
        leaf.end = leaf.start + len(header) + sum(len(ln) + 1 for ln in lines)
        leaf.scalar = BlockScalar(props, style, digit, chomp, rest, lines, indent)
