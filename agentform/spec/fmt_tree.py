"""The tree that ``agentform fmt`` reads from one spec file's text, with every comment attached.

Owns :func:`read_document` and the nodes it returns (:class:`Document`, :class:`Block`,
:class:`Entry`, :class:`Leaf`, :class:`BlockScalar`); only :mod:`agentform.spec.fmt` calls it,
and its writer walks the tree. libyaml's events carry exact source positions: block collections
become blocks; scalars, aliases and flow collections become leaves that point into the text;
``|``/``>`` scalars are split into lines. libyaml drops comments, so :class:`_Attacher` finds
them between tokens and gives each to the entry it describes. Anchors and aliases are recorded
so that reordering keys cannot move an alias above its anchor.

Raises :class:`InvalidText` for text that is not one YAML document with unique keys (``fmt``
re-raises it as ``FormatError``) and :class:`Unsupported` for valid YAML the writer does not
handle (complex keys, properties on the root node, line breaks other than ``\\n``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = [
    "Block",
    "BlockScalar",
    "Document",
    "Entry",
    "InvalidText",
    "Leaf",
    "Unsupported",
    "column_at",
    "read_document",
]

MAX_DEPTH = 200

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_HEADER = re.compile(r"((?:[&!]\S*[ \t]+)*)([|>])([1-9][+-]?|[+-][1-9]?|)(.*)")
_OTHER_BREAKS = re.compile("[\x85\u2028\u2029]")  # line breaks to YAML 1.1 besides \n


class InvalidText(Exception):
    """The text is not one valid YAML document with unique keys; line and column are 1-based."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"{line}:{column}: {message}")
        self.message = message
        self.line = line
        self.column = column


class Unsupported(Exception):
    """Valid YAML the writer does not handle; ``format_text`` returns such text unchanged."""


@dataclass(slots=True, eq=False)
class Leaf:
    """Text copied from the source: a scalar, an alias or a flow collection."""

    start: int
    end: int
    key: str | None = None  # the scalar's value, to match field names and find duplicates
    plain: bool = False
    items: list[Leaf] | None = None  # a flow collection's children (key, value, key, ...)
    is_map: bool = False
    scalar: BlockScalar | None = None


@dataclass(slots=True, eq=False)
class BlockScalar:
    """A ``|`` or ``>`` scalar: its header's parts and its content lines as in the source."""

    props: str
    style: str
    digit: str
    chomp: str
    rest: str
    lines: list[str]
    indent: int  # the content's indentation in the source

    def is_empty(self, line: str) -> bool:
        """Whether a content line is blank (no text beyond the content's indentation)."""
        return _is_empty(line, self.indent)


@dataclass(slots=True, eq=False)
class Block:
    """A block mapping or sequence and the comments after its last entry."""

    is_map: bool
    column: int  # source column of the keys or dashes
    props: str
    entries: list[Entry] = field(default_factory=list)
    trailing: list[str] = field(default_factory=list)  # comments after the last entry
    end: int = 0


@dataclass(slots=True, eq=False)
class Entry:
    """A key (None in a sequence) and its value, with the comments that belong to it."""

    key: Leaf | None
    value: Leaf | Block
    leading: list[str] | None = None  # comment lines and "" (blank) above the entry
    key_comment: tuple[str, int] | None = None  # on the key (or dash) line of a block value
    eol: tuple[str, int] | None = None  # after the value: (text, source column)


@dataclass(slots=True)
class Document:
    """The root node, comments outside it, and where anchors are defined and aliases used."""

    root: Leaf | Block | None
    header: list[str] = field(default_factory=list)  # comments, blanks, directives, "---"
    trailer: list[str] = field(default_factory=list)  # comments after a root scalar
    entry: Entry | None = None  # the root as an entry, holding a root scalar's comments
    anchors: dict[str, int] = field(default_factory=dict)  # name -> source index
    aliases: list[tuple[int, str]] = field(default_factory=list)  # in source order


def read_document(text: str) -> Document:
    """The tree of ``text`` (line breaks already ``\\n``); see the module for what it raises."""
    parser = _Parser(text)
    try:
        if _OTHER_BREAKS.search(text):
            _ = list(yaml.parse(text, Loader=_Loader))  # still report invalid YAML
            raise Unsupported  # lines are counted by "\n" alone below
        document = Document(parser.document(), anchors=parser.anchors, aliases=parser.aliases)
        _Attacher(text, document).run()
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


def column_at(text: str, index: int) -> int:
    """The 0-based column of ``text[index]``."""
    return index - (text.rfind("\n", 0, index) + 1)


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
            props = " ".join(t for t in _strip_comment(self.text[start:end]).split() if t != "-")
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
            while lines and _is_empty(lines[-1], indent):
                lines.pop()
                final_break = True
        if not final_break and lines:
            if chomp == "+" and _is_empty(lines[-1], indent):
                raise Unsupported
            chomp = "-"  # no line break after the last line: written canonically, one is added
        leaf.end = leaf.start + len(header) + sum(len(ln) + 1 for ln in lines)
        leaf.scalar = BlockScalar(props, style, digit, chomp, rest, lines, indent)


def _is_empty(line: str, indent: int) -> bool:
    return not line.strip(" ") and len(line) <= indent


def _comment_start(line: str, after_space: bool = True) -> int:
    """Index of the ``#`` that starts a comment in structural text (never scalar text), or -1."""
    i = line.find("#")
    while i != -1:
        if (i == 0 and after_space) or (i > 0 and line[i - 1] in " \t"):
            return i
        i = line.find("#", i + 1)
    return -1


def _strip_comment(text: str) -> str:
    return "\n".join(ln[: i if (i := _comment_start(ln)) >= 0 else None] for ln in text.split("\n"))


# -- comments: which entry each one belongs to ------------------------------------------------


_Line = tuple[str, int]  # a comment and its column (-1: it must lead), or ("", 0): a blank line


class _Attacher:
    """Walks the tokens in source order and gives each comment and blank line to its entry.

    libyaml drops comments, so they are found in the text between tokens (keys, scalars,
    aliases, flow collections). A comment on the line where a token ends belongs to that
    token's entry; full-line comments belong to the entry that follows, unless they are
    indented deeper than it: then they close the deepest block they line up with.
    """

    def __init__(self, text: str, document: Document) -> None:
        self.text = text
        self.document = document
        self.end = 0
        self.previous: tuple[Entry, bool] | None = None  # (entry, token was its key)
        self.opening: tuple[Entry, Block] | None = None  # the outermost entry starting next
        self.closing: list[Block] = []

    def run(self) -> None:
        root = self.document.root
        if root is None:
            self.header(self.text)
            return
        self.document.entry = Entry(None, root)
        if isinstance(root, Block):
            if root.props:
                raise Unsupported
            self.block(root)
        else:
            self.token(root, self.document.entry, False)
        self.gap(self.text[self.end :], None, -1)

    def block(self, block: Block) -> None:
        for entry in block.entries:
            if self.opening is None:
                self.opening = (entry, block)
            if entry.key is not None:
                self.token(entry.key, entry, True)
            if isinstance(entry.value, Block):
                self.block(entry.value)
            else:
                self.token(entry.value, entry, False)
        self.closing.append(block)

    def token(self, leaf: Leaf, entry: Entry, is_key: bool) -> None:
        gap = self.text[self.end : leaf.start]
        if self.previous is None:
            before = gap.rpartition("\n")[2]
            marker = before.lstrip().startswith("---")
            if (marker and isinstance(self.document.root, Leaf)) or before.strip(" \t-?"):
                raise Unsupported  # a scalar document starting on its '---' line
            self.header(gap)
            if marker:
                self.document.header.append("---")
        elif self.opening is not None:
            self.gap(gap, self.opening[0], self.opening[1].column)
        else:  # between a key and its value on a later line: the comments go above the key
            self.gap(gap, entry, 1 << 30)
        self.previous = (entry, is_key)
        self.end = leaf.end
        self.opening = None
        self.closing = []

    def header(self, gap: str) -> None:
        """Lines before the first token stay on top, whatever moves below them."""
        lines = gap.split("\n")
        for line in lines[:-1] if self.document.root is not None else lines:
            stripped = line.strip()
            if stripped.startswith(("%", "---")):
                self.document.header.append(stripped)
            elif (i := _comment_start(line)) >= 0:
                self.document.header.append(line[i:].rstrip())
            elif not stripped:
                self.document.header.append("")

    def gap(self, gap: str, following: Entry | None, limit: int) -> None:
        """Attach the comments and blank lines between two tokens (``following`` None: the end)."""
        lines = gap.split("\n")
        assert self.previous is not None
        i = _comment_start(lines[0], self.text[self.end - 1 : self.end] in (" ", "\t", "\n"))
        if i >= 0:
            column = column_at(self.text, self.end) + i
            entry, is_key = self.previous
            if is_key:
                entry.key_comment = (lines[0][i:].rstrip(), column)
            else:
                entry.eol = (lines[0][i:].rstrip(), column)
        found: list[_Line] = []
        for line in lines[1:-1] if following is not None else lines[1:]:
            if (i := _comment_start(line)) >= 0:
                structure = following is not None and line[:i].strip() not in ("", "...")
                found.append((line[i:].rstrip(), -1 if structure else i))
            elif not line.strip():
                found.append(("", 0))
        if found:
            self.distribute(found, following, limit)

    def distribute(self, found: list[_Line], following: Entry | None, limit: int) -> None:
        target = 0  # index into self.closing (innermost first): targets only move outwards
        targets: list[int] = []
        for text, column in found:
            if not text:
                targets.append(-2)  # decided by the next comment
                continue
            chosen = -1
            if column > limit:
                for j in range(target, len(self.closing)):
                    if self.closing[j].column <= column:
                        chosen = j
                        break
            if chosen < 0 and following is None and self.closing:
                chosen = len(self.closing) - 1  # the end of the document: the root keeps them
            if chosen < 0:
                targets.append(-1)
                target = len(self.closing)
            else:
                targets.append(chosen)
                target = chosen
        pending = -1
        for k in range(len(targets) - 1, -1, -1):
            if targets[k] == -2:
                targets[k] = pending
            else:
                pending = targets[k]
        leading: list[str] = []
        for (text, _), t in zip(found, targets, strict=True):
            if t >= 0:
                self.closing[t].trailing.append(text)
            else:
                leading.append(text)
        if following is None:
            self.document.trailer.extend(leading)
        elif leading:
            following.leading = [*(following.leading or ()), *leading]
