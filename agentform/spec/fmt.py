"""Canonical formatting of one spec file's text that keeps every comment: ``agentform fmt``.

Owns :func:`format_text`, :func:`diff` and :class:`FormatError`; the CLI's ``fmt`` command calls
them and does all file I/O. Formatting is three steps: :mod:`agentform.spec.fmt_tree` reads the
text into blocks and leaves with their comments attached, :mod:`agentform.spec.fmt_order` knows
the canonical order of keys (derived from :mod:`agentform.spec.models`) and
:mod:`agentform.spec.fmt_writer` emits the canonical text. The canonical form: block mappings
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

from agentform.spec.fmt_nodes import InvalidText, Unsupported
from agentform.spec.fmt_tree import read_document
from agentform.spec.fmt_writer import Writer

__all__ = ["FormatError", "diff", "format_text"]


class FormatError(ValueError):
    """The text is not one valid YAML document with unique keys; line and column are 1-based."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"{line}:{column}: {message}")
        self.message = message
        self.line = line
        self.column = column


def format_text(text: str) -> str:
    """Return the canonical form of one spec file's text; raise :class:`FormatError` if invalid.

    Idempotent, and ``yaml.safe_load`` reads the same value from the result as from ``text``.
    """
    source = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    try:
        return Writer(source, read_document(source)).write()
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
