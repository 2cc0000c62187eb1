"""Schema validation: run the pydantic models and turn their errors into located diagnostics.

One bad resource must not hide the problems of the others, so when the whole spec fails to
validate, the resources with errors are set aside and the rest is validated again; the semantic
checks then run on that partial spec, told which addresses are broken so they do not report
references to them as missing. Called by the loader.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from agentform.addresses import KIND_OF_SECTION, address_of_path, format_path
from agentform.diagnostics import Diagnostic, Severity
from agentform.names import did_you_mean
from agentform.spec.models import Spec
from agentform.spec.sourcemap import Path, SourceMap

__all__ = ["Validated", "validate_document"]

_TYPE_ERRORS = ("_type", "_parsing")
_PLACEHOLDERS: dict[str, Any] = {"version": 1, "project": "invalid"}
_DICTIONARY = re.compile(r"a valid dictionary( or instance of \w+)?")


@dataclass
class Validated:
    spec: Spec | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = args[0] if len(args) == 1 else tp
            if len(args) != 1:
                return tp
        else:
            return tp


def _model_at(loc: Path) -> type[BaseModel] | None:
    tp: Any = Spec
    for part in loc:
        tp = _unwrap(tp)
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = tp.model_fields.get(str(part))
            if info is None:
                return None
            tp = info.annotation
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        elif origin is list:
            tp = typing.get_args(tp)[0]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{text} ({type(value).__name__})"


def _diagnostic(error: Any, smap: SourceMap) -> Diagnostic:
    loc: Path = tuple(error["loc"])
    kind: str = error["type"]
    msg: str = error["msg"]
    where = format_path(loc)
    address = address_of_path(loc)
    if msg.startswith(("Value error, ", "Assertion failed, ")):
        msg = msg.split(", ", 1)[1]
    if msg.startswith("Input "):  # pydantic's sentence follows our "invalid value for X:"
        msg = "input " + msg[len("Input ") :]
    msg = _DICTIONARY.sub("a mapping", msg)  # YAML has mappings; "instance of Agent" is Python
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else ""
        owner = _model_at(loc[:-1])
        fields = list(owner.model_fields) if owner else []
        return Diagnostic(
            Severity.ERROR,
            "AF101",
            f"unknown key {key!r} in {format_path(loc[:-1])}",
            address=address,
            location=smap.key(loc),
            hint=did_you_mean(key, fields, "key"),
        )
    if kind == "missing":
        return Diagnostic(
            Severity.ERROR,
            "AF103",
            f"missing required key {str(loc[-1])!r} in {format_path(loc[:-1])}",
            address=address,
            location=smap.value(loc[:-1]),
            hint=f"add '{loc[-1]}:' here",
        )
    if kind.endswith(_TYPE_ERRORS) or kind in ("model_type", "model_attributes_type"):
        expected = msg[0].lower() + msg[1:] if msg else "a different type"
        return Diagnostic(
            Severity.ERROR,
            "AF102",
            f"wrong type for {where}: {expected}",
            detail=f"got {_describe(error.get('input'))}",
            address=address,
            location=smap.value(loc),
        )
    detail = "" if kind == "value_error" else f"got {_describe(error.get('input'))}"
    return Diagnostic(
        Severity.ERROR,
        "AF104",
        f"invalid value for {where}: {msg}",
        detail=detail,
        address=address,
        location=smap.value(loc),
    )


def validate_document(document: Any, smap: SourceMap) -> Validated:
    """Validate ``document`` against :class:`Spec`; keep a partial spec for the checks."""
    if not isinstance(document, dict):
        return Validated(
            None,
            [
                Diagnostic(
                    Severity.ERROR,
                    "AF011",
                    "a spec must be a mapping of sections",
                    location=smap.value(()),
                )
            ],
        )
    try:
        return Validated(Spec.model_validate(document))
    except ValidationError as exc:
        errors = exc.errors()
    out = Validated(None, [_diagnostic(e, smap) for e in errors])
    pruned = dict(document)
    for e in errors:
        loc = tuple(e["loc"])
        if not loc:
            return out
        section = loc[0]
        if section in KIND_OF_SECTION and len(loc) >= 2 and isinstance(pruned.get(section), dict):
            sect = dict(pruned[section])
            sect.pop(str(loc[1]), None)
            pruned[str(section)] = sect
            out.broken.add(f"{KIND_OF_SECTION[str(section)]}.{loc[1]}")
        elif section in _PLACEHOLDERS:
            pruned[str(section)] = _PLACEHOLDERS[str(section)]
        else:
            pruned.pop(str(section), None)
    try:
        out.spec = Spec.model_validate(pruned)
    except ValidationError:
        out.spec = None
    return out
