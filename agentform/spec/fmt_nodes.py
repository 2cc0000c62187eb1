"""The nodes of the tree ``agentform fmt`` reads from a spec file (:mod:`.fmt_tree`), and the
small text helpers the reader, the comment attacher (:mod:`.fmt_comments`) and the writer
(:mod:`agentform.spec.fmt_writer`) share: columns, blank lines, where a comment starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Block",
    "BlockScalar",
    "Document",
    "Entry",
    "InvalidText",
    "Leaf",
    "Unsupported",
    "column_at",
    "comment_start",
    "is_empty_line",
    "strip_comment",
]


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
        return is_empty_line(line, self.indent)


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


def column_at(text: str, index: int) -> int:
    """The 0-based column of ``text[index]``."""
    return index - (text.rfind("\n", 0, index) + 1)


def is_empty_line(line: str, indent: int) -> bool:
    """Whether ``line`` is blank: spaces only, no deeper than ``indent``."""
    return not line.strip(" ") and len(line) <= indent


def comment_start(line: str, after_space: bool = True) -> int:
    """Index of the ``#`` that starts a comment in structural text (never scalar text), or -1."""
    i = line.find("#")
    while i != -1:
        if (i == 0 and after_space) or (i > 0 and line[i - 1] in " \t"):
            return i
        i = line.find("#", i + 1)
    return -1


def strip_comment(text: str) -> str:
    """``text`` without its comments (structural text only)."""
    return "\n".join(ln[: i if (i := comment_start(ln)) >= 0 else None] for ln in text.split("\n"))
