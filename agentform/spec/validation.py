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
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from agentform.addresses import KIND_OF_SECTION, address_of_path, format_path
from agentform.diagnostics import Diagnostic, Severity
from agentform.names import did_you_mean, yaml_type
from agentform.spec.models import Spec
from agentform.spec.sourcemap import Path, SourceMap

__all__ = ["Validated", "validate_document"]

_QUOTED = re.compile(r"'([^']*)'")
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
    return f"{text} ({yaml_type(value)})"


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
        where_key = f"in {format_path(loc[:-1])}" if len(loc) > 1 else "at the top level"
        return Diagnostic(
            Severity.ERROR,
            "AF103",
            f"missing required key {str(loc[-1])!r} {where_key}",
            address=address,
            location=smap.value(loc[:-1]),
            hint=f"add '{loc[-1]}:' here",
        )
    if error.get("input", "") is None and kind != "literal_error":
        return Diagnostic(
            Severity.ERROR,
            "AF102",
            f"{where} has no value",
            detail=msg,
            address=address,
            location=smap.value(loc),
            hint="give it a value, or remove the key to use the default",
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
    hint = None
    if kind == "literal_error" and isinstance(error.get("input"), str):
        choices = _QUOTED.findall(str(error.get("ctx", {}).get("expected", "")))
        hint = did_you_mean(error["input"], choices)
    return Diagnostic(
        Severity.ERROR,
        "AF104",
        f"invalid value for {where}: {msg}",
        detail=detail,
        address=address,
        location=smap.value(loc),
        hint=hint,
    )


def _prune(document: dict[str, Any], loc: Path) -> str | None:
    """Remove the smallest part of ``document`` holding ``loc``; return what broke (an address,
    ``kind.*`` for a whole section), or ``None`` when nothing could be set aside."""
    if not loc:
        return None
    section = str(loc[0])
    body = document.get(section)
    if section in KIND_OF_SECTION and len(loc) >= 2 and isinstance(body, dict):
        document[section] = {k: v for k, v in body.items() if k != loc[1]}
        return f"{KIND_OF_SECTION[section]}.{loc[1]}"
    if section == "access" and len(loc) >= 3 and isinstance(body, dict):
        part = body.get(str(loc[1]))
        if loc[1] in ("roles", "members") and isinstance(part, dict):
            document["access"] = {
                **body,
                str(loc[1]): {k: v for k, v in part.items() if k != loc[2]},
            }
            return f"role.{loc[2]}" if loc[1] == "roles" else "member.*"
    if section in _PLACEHOLDERS:
        document[section] = _PLACEHOLDERS[section]
        return None
    document.pop(section, None)
    return "role.*" if section == "access" else None


def validate_document(document: Any, smap: SourceMap, failed: Iterable[Path] = ()) -> Validated:
    """Validate ``document`` against :class:`Spec`; keep a partial spec for the checks.

    ``failed`` are paths whose interpolation failed (already reported): the resources holding
    them are set aside before validating, so a missing value is not reported twice.
    """
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
    out = Validated(None)
    document = dict(document)
    for path in failed:
        broken = _prune(document, path)
        if broken:
            out.broken.add(broken)
    try:
        out.spec = Spec.model_validate(document)
        return out
    except ValidationError as exc:
        # include: is reported, with its locations, by the file reader
        errors = [e for e in exc.errors() if e["loc"][:1] != ("include",)]
    out.diagnostics = [_diagnostic(e, smap) for e in errors]
    pruned = dict(document)
    for e in errors:
        loc = tuple(e["loc"])
        if not loc:
            return out
        broken = _prune(pruned, loc)
        if broken:
            out.broken.add(broken)
    pruned.pop("include", None)
    try:
        out.spec = Spec.model_validate(pruned)
    except ValidationError:
        out.spec = None
    return out
