"""Which entry each comment of a spec file belongs to, for ``agentform fmt``.

libyaml drops comments, so :func:`attach_comments` finds them in the text between the tokens of
the tree :mod:`.fmt_tree` read (keys, scalars, aliases, flow collections) and gives each comment
and blank line to the entry it describes, so the writer (:mod:`agentform.spec.fmt_writer`) can move
entries with their comments. Called by :func:`~agentform.spec.fmt_tree.read_document`.
"""

from __future__ import annotations

from agentform.spec.fmt_nodes import (
    Block,
    Document,
    Entry,
    Leaf,
    Unsupported,
    column_at,
    comment_start,
)

__all__ = ["attach_comments"]


def attach_comments(text: str, document: Document) -> None:
    """Give every comment and blank line of ``text`` to its entry in ``document``."""
    _Attacher(text, document).run()


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
            elif (i := comment_start(line)) >= 0:
                self.document.header.append(line[i:].rstrip())
            elif not stripped:
                self.document.header.append("")

    def gap(self, gap: str, following: Entry | None, limit: int) -> None:
        """Attach the comments and blank lines between two tokens (``following`` None: the end)."""
        lines = gap.split("\n")
        assert self.previous is not None
        i = comment_start(lines[0], self.text[self.end - 1 : self.end] in (" ", "\t", "\n"))
        if i >= 0:
            column = column_at(self.text, self.end) + i
            entry, is_key = self.previous
            if is_key:
                entry.key_comment = (lines[0][i:].rstrip(), column)
            else:
                entry.eol = (lines[0][i:].rstrip(), column)
        found: list[_Line] = []
        for line in lines[1:-1] if following is not None else lines[1:]:
            if (i := comment_start(line)) >= 0:
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
