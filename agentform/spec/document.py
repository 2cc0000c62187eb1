"""Turn the text of one YAML file into plain Python values with a location for every node.

PyYAML silently keeps the last of two equal keys and forgets where values came from, so this
module composes the node graph with libyaml (fast) and builds the values itself: it refuses
duplicate keys, keeps every key's and value's line and column in a
:class:`~agentform.spec.sourcemap.SourceMap`, resolves ``<<`` merge keys, and bounds the work
an adversarial file can cause (alias bombs, absurd nesting). Mapping keys are kept as written
(``no:`` is the string ``"no"``, not ``False``). Called by the loader, one file at a time.
"""

from __future__ import annotations

import io
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from agentform.diagnostics import Diagnostic, Location, Severity
from agentform.spec.sourcemap import Path, SourceMap
from agentform.spec.yaml_errors import LINE_BREAK, syntax_diagnostic

__all__ = ["MAX_ALIAS_NODES", "MAX_DEPTH", "MAX_NODES", "build_document", "parse_document"]

MAX_NODES = 3_000_000
MAX_ALIAS_NODES = 100_000  # nodes that aliases may add beyond those written out
MAX_DEPTH = 64

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"


class _Loader(_BaseLoader):  # type: ignore[misc]
    """libyaml's safe loader with tag resolution memoised per scalar text.

    PyYAML resolves every plain scalar's implicit tag with Python regexes, one call per node
    (half a million in a 10,000-agent spec); specs repeat the same keys and values endlessly.
    """

    _resolved: dict[str, str] = {}  # noqa: RUF012  # shared on purpose, bounded below

    # The composer calls these two around every node, to track paths for path resolvers (see
    # yaml.resolver.BaseResolver); this loader has none, so they do nothing. Builtins that take
    # the same arguments make them C calls instead of Python ones (≈ 0.05 s on 13 MB of YAML).
    descend_resolver = slice  # (parent, index) -> an unused slice object
    ascend_resolver = tuple  # () -> an unused empty tuple

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode:
            if not implicit[0]:  # quoted: always a string in the safe schema
                return _STR_TAG
            tag = self._resolved.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(value) <= 64 and len(self._resolved) < 100_000:
                    self._resolved[value] = tag
            return tag
        return super().resolve(kind, value, implicit)


_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"
_PLAIN_TAGS = {"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary"}
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_TRUE = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"}


class _Abort(Exception):
    """The document is too large or deep to continue; a diagnostic has been recorded."""


class _Builder:
    def __init__(self, file: str, smap: SourceMap, diagnostics: list[Diagnostic]) -> None:
        self.file = file
        self.smap = smap
        self.diagnostics = diagnostics
        self.budget = MAX_NODES
        self.stack: set[int] = set()
        self._constructor = yaml.SafeLoader("")

    def loc(self, node: Node) -> Location:
        location = self.smap.locate(node.start_mark)
        assert location is not None
        return location

    def error(
        self,
        code: str,
        summary: str,
        node: Node,
        hint: str | None = None,
        related: tuple[Location, ...] = (),
    ) -> None:
        self.diagnostics.append(
            Diagnostic(
                Severity.ERROR, code, summary, location=self.loc(node), hint=hint, related=related
            )
        )

    def build(self, node: Node, path: Path, depth: int) -> Any:
        self.budget -= 1
        if self.budget < 0 or depth > MAX_DEPTH:
            what = (
                f"nesting deeper than {MAX_DEPTH} levels"
                if depth > MAX_DEPTH
                else f"more than {MAX_NODES:,} nodes once aliases are expanded"
            )
            self.error(
                "AF007",
                f"document has {what}",
                node,
                hint="split the spec into smaller files, and avoid recursive or "
                "repeatedly nested YAML aliases",
            )
            raise _Abort
        self.smap.values[path] = node.start_mark  # a Location only if a diagnostic needs it
        if isinstance(node, ScalarNode):
            value = self.scalar(node)
            if type(value) is str and "${" in value:
                self.smap.templated.add(path)
            return value
        key = id(node)
        if key in self.stack:
            self.error(
                "AF013",
                "recursive YAML alias: a node contains itself",
                node,
                hint="an alias (*name) may not refer to an anchor that encloses it",
            )
            return None
        self.stack.add(key)
        try:
            if isinstance(node, SequenceNode):
                if node.tag != _SEQ:
                    self.unsupported_tag(node)
                return [
                    self.build(child, (*path, i), depth + 1) for i, child in enumerate(node.value)
                ]
            assert isinstance(node, MappingNode)
            if node.tag != _MAP:
                self.unsupported_tag(node)
            return self.mapping(node, path, depth)
        finally:
            self.stack.discard(key)

    def mapping(self, node: MappingNode, path: Path, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        keys = self.smap.keys
        merged: list[tuple[MappingNode, Path]] = []
        merge_key: Node | None = None
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                if merge_key is not None:
                    # PyYAML would merge both; YAML allows one key per mapping, and which of two
                    # merged mappings wins is nothing a reader should have to work out
                    first = self.loc(merge_key)
                    self.error(
                        "AF002",
                        "duplicate key '<<': a mapping may have one merge key",
                        key_node,
                        hint=f"'<<' is already used at line {first.line}; merge several mappings "
                        "with one key: '<<: [*first, *second]' (the first wins where they differ)",
                        related=(first,),
                    )
                    continue
                merge_key = key_node
                merged.extend(self.merge_sources(value_node))
                continue
            if not isinstance(key_node, ScalarNode):
                self.error(
                    "AF013",
                    "mapping keys must be plain scalars, not lists or mappings",
                    key_node,
                    hint="use a simple name as the key",
                )
                continue
            key = key_node.value
            child = (*path, key)
            if key in result:
                prev = self.smap.locate(keys[child])
                assert prev is not None
                self.error(
                    "AF002",
                    f"duplicate key {key!r}",
                    key_node,
                    hint=f"{key!r} is already defined at line {prev.line}; "
                    "remove or rename one of them",
                    related=(prev,),
                )
                continue
            keys[child] = key_node.start_mark
            if (
                type(value_node) is ScalarNode
                and value_node.tag == _STR
                and self.budget > 0
                and depth < MAX_DEPTH
            ):
                # the most common node, inlined: what build() does for it when nothing is wrong
                self.budget -= 1
                self.smap.values[child] = value_node.start_mark
                text = value_node.value
                if "${" in text:
                    self.smap.templated.add(child)
                result[key] = text
                continue
            result[key] = self.build(value_node, child, depth + 1)
        # explicit keys win over merged ones, earlier merge sources over later ones (YAML spec)
        for source, _ in merged:
            for key_node, value_node in source.value:
                key = key_node.value if isinstance(key_node, ScalarNode) else None
                if key is None or key in result:
                    continue
                child = (*path, key)
                keys[child] = key_node.start_mark
                result[key] = self.build(value_node, child, depth + 1)
        return result

    def merge_sources(self, node: Node) -> list[tuple[MappingNode, Path]]:
        if isinstance(node, MappingNode):
            return [(node, ())]
        if isinstance(node, SequenceNode) and all(isinstance(n, MappingNode) for n in node.value):
            return [(n, ()) for n in node.value]
        self.error("AF013", "a '<<' merge key needs a mapping or a list of mappings", node)
        return []

    def unsupported_tag(self, node: Node) -> None:
        self.error(
            "AF013",
            f"unsupported YAML tag {node.tag!r}",
            node,
            hint="agentform specs use plain YAML; remove the tag",
        )

    def scalar(self, node: ScalarNode) -> Any:
        tag, text = node.tag, node.value
        if tag == _STR:
            return text
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return text in _TRUE
        if tag in (_INT, _FLOAT):
            try:
                if tag == _FLOAT:
                    return self._constructor.construct_yaml_float(node)
                try:
                    return int(text)
                except ValueError:
                    return self._constructor.construct_yaml_int(node)
            except (ValueError, IndexError):  # '!!int abc', or more digits than int() accepts
                shown = text if len(text) <= 40 else text[:37] + "..."
                self.error(
                    "AF104",
                    f"{shown!r} is not a number agentform can read",
                    node,
                    hint="write a plain number of at most 4,300 digits, or quote the value "
                    "to make it text",
                )
                return text
        if tag not in _PLAIN_TAGS:
            self.unsupported_tag(node)
        return text


def parse_document(text: str, file: str, smap: SourceMap) -> tuple[Any, list[Diagnostic]]:
    """Parse one YAML document; return its value (``None`` on failure) and the problems found.

    Locations are recorded into ``smap`` under paths relative to the document root.
    """
    smap.texts[file] = text
    value, diagnostics, _ = build_document(text, file, smap)
    return value, diagnostics


def build_document(text: str, file: str, smap: SourceMap) -> tuple[Any, list[Diagnostic], int]:
    """:func:`parse_document` without recording ``text`` in ``smap``; also returns the number
    of nodes built (what counts against :data:`MAX_NODES`)."""
    value, diagnostics, builder = _build(text, file, smap)
    return value, diagnostics, MAX_NODES - builder.budget if builder else 0


def _build(text: str, file: str, smap: SourceMap) -> tuple[Any, list[Diagnostic], _Builder | None]:
    diagnostics: list[Diagnostic] = []
    try:
        stream = io.StringIO(text)
        stream.name = file  # the parser's marks then name the file
        root = yaml.compose(stream, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        diagnostics.append(syntax_diagnostic(exc, file, text))
        return None, diagnostics, None
    except yaml.reader.ReaderError as exc:  # a character YAML refuses: no mark, a position
        before = LINE_BREAK.split(text[: exc.position])
        found = chr(exc.character) if isinstance(exc.character, int) else exc.character
        diagnostics.append(
            Diagnostic(
                Severity.ERROR,
                "AF001",
                f"invalid YAML: {exc.reason} (found {found!r})",
                location=Location(file, len(before), len(before[-1]) + 1),
                hint="remove it, or write it as an escape such as \\x1b inside double quotes",
            )
        )
        return None, diagnostics, None
    except yaml.YAMLError as exc:  # errors without a mark
        diagnostics.append(
            Diagnostic(
                Severity.ERROR, "AF001", f"invalid YAML: {exc}", location=Location(file, 1, 1)
            )
        )
        return None, diagnostics, None
    except RecursionError:
        diagnostics.append(
            Diagnostic(
                Severity.ERROR,
                "AF007",
                "document is nested too deeply",
                location=Location(file, 1, 1),
            )
        )
        return None, diagnostics, None
    if root is None:
        return None, diagnostics, None
    builder = _Builder(file, smap, diagnostics)
    if "&" in text:  # without an anchor there is no alias, and nothing to expand
        unique = [0]
        expanded = _expanded_size(root, {}, set(), 0, unique)
        if expanded - unique[0] > MAX_ALIAS_NODES or expanded > MAX_NODES:
            builder.error(
                "AF007",
                f"aliases expand the document from {unique[0]:,} to {expanded:,} nodes, "
                f"more than the {MAX_ALIAS_NODES:,} that aliases may add",
                root,
                hint="repeat less through aliases (a 'billion laughs' document), or write the "
                "values out",
            )
            return None, diagnostics, builder
    try:
        value = builder.build(root, (), 0)
    except _Abort:
        return None, diagnostics, builder
    return value, diagnostics, builder


def _expanded_size(
    node: Node, memo: dict[int, int], stack: set[int], depth: int, unique: list[int]
) -> int:
    """Node count after alias expansion, in time linear in the *unique* nodes (counted into
    ``unique[0]``)."""
    if isinstance(node, ScalarNode):
        return 1
    key = id(node)
    if key in memo:
        return memo[key]
    if key in stack or depth > MAX_DEPTH:
        return 1  # reported precisely by the builder
    stack.add(key)
    children = (
        node.value if isinstance(node, SequenceNode) else [n for pair in node.value for n in pair]
    )
    unique[0] += 1 + sum(1 for c in children if isinstance(c, ScalarNode))
    total = 1 + sum(_expanded_size(c, memo, stack, depth + 1, unique) for c in children)
    stack.discard(key)
    memo[key] = total
    return total
