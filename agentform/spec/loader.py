"""Load a spec: files → merged document → overlay → variables → interpolation → models → checks.

:func:`load_spec` is the entry point every command uses. It never raises for bad input: it
returns a :class:`LoadResult` whose ``diagnostics`` hold every problem found, in one run, each
with a location; ``spec`` is the typed :class:`~agentform.spec.models.Spec` when there are no
errors. :func:`build_spec` lets ``validate`` read the files once and check the base spec and
every environment. Called by the CLI (and later by plan and apply).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml

from agentform.diagnostics import Diagnostic, Severity, has_errors, sort_key
from agentform.names import did_you_mean
from agentform.spec.checks import CheckContext, run_checks
from agentform.spec.collector import paused_collector
from agentform.spec.files import RawSpec, display_name, escapes, inside, read_spec
from agentform.spec.interpolation import interpolate
from agentform.spec.models import Spec
from agentform.spec.overlay import apply_overlay
from agentform.spec.sourcemap import SourceMap
from agentform.spec.validation import validate_document

__all__ = ["LoadResult", "build_spec", "load_spec", "parse_var_assignments"]

VAR_ENV_PREFIX = "AGENTFORM_VAR_"


@dataclass
class LoadResult:
    """The outcome of loading: the spec (``None`` when it has errors) and every diagnostic."""

    spec: Spec | None
    diagnostics: list[Diagnostic]
    smap: SourceMap
    files: list[str] = field(default_factory=list)
    environment: str | None = None
    secrets: dict[str, list[tuple[str | int, ...]]] = field(default_factory=dict)
    base_dir: str = "."
    # the values of the variables declared sensitive, as text: for fingerprints and for handing
    # to the runtime beside the resources that reference them, never for printing
    sensitive: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return self.spec is not None and not has_errors(self.diagnostics)


def parse_var_assignments(items: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Split ``--var name=value`` arguments; return the values and the malformed items."""
    values: dict[str, str] = {}
    bad: list[str] = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            bad.append(item)
        else:
            values[name.strip()] = value
    return values, bad


def _coerce(text: str) -> Any:
    """A --var or AGENTFORM_VAR_ value is YAML: ``3`` is a number, ``[a, b]`` a list."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "list": (list,),
    "map": (dict,),
}


def _resolve_variables(
    document: dict[str, Any], smap: SourceMap, given: Mapping[str, str], environ: Mapping[str, str]
) -> tuple[dict[str, Any], list[Diagnostic], frozenset[str]]:
    """Each declared variable's value; the problems; the names left without a usable value."""
    declared = document.get("variables")
    declared = declared if isinstance(declared, dict) else {}
    values: dict[str, Any] = {}
    problems: list[Diagnostic] = []
    unresolved: set[str] = set()
    for name in given:
        if name not in declared:
            problems.append(
                Diagnostic(
                    Severity.ERROR,
                    "AF008",
                    f"--var {name} is not a declared variable",
                    hint=did_you_mean(name, declared, "variable")
                    or "declare it under 'variables:'",
                )
            )
    for name, raw_decl in declared.items():
        decl = raw_decl if isinstance(raw_decl, dict) else {}
        if name in given:
            value, source = _coerce(given[name]), f"--var {name}"
        elif VAR_ENV_PREFIX + name in environ:
            value, source = _coerce(environ[VAR_ENV_PREFIX + name]), VAR_ENV_PREFIX + name
        elif "default" in decl:
            value, source = decl["default"], "its default"
        elif not isinstance(raw_decl, dict):  # the schema reports the malformed declaration
            unresolved.add(name)
            continue
        else:
            unresolved.add(name)
            problems.append(
                Diagnostic(
                    Severity.ERROR,
                    "AF008",
                    f"variable {name!r} has no value",
                    address=f"variable.{name}",
                    location=smap.key(("variables", name)),
                    hint=f"pass --var {name}=VALUE, set {VAR_ENV_PREFIX}{name}, or give it a "
                    "default",
                )
            )
            continue
        kind = decl.get("type", "any")
        expected = _TYPES.get(kind) if isinstance(kind, str) else None
        if (
            value is not None
            and expected
            and (not isinstance(value, expected) or (kind != "boolean" and isinstance(value, bool)))
        ):
            problems.append(
                Diagnostic(
                    Severity.ERROR,
                    "AF104",
                    f"variable {name!r} is declared as {kind} but {source} is {value!r}",
                    address=f"variable.{name}",
                    location=smap.key(("variables", name)),
                )
            )
            unresolved.add(name)
            continue
        values[name] = value
    return values, problems, frozenset(unresolved)


def _sensitive(document: dict[str, Any]) -> frozenset[str]:
    """The variables declared ``sensitive: true`` (the schema reports a malformed one)."""
    declared = document.get("variables")
    if not isinstance(declared, dict):
        return frozenset()
    return frozenset(
        name
        for name, decl in declared.items()
        if isinstance(decl, dict) and decl.get("sensitive") is True
    )


def _file_references(spec: Spec, smap: SourceMap, base_dir: str) -> list[Diagnostic]:
    """Files the spec points at must be files of the project, and exist (checked here: the
    loader owns the file system). A path out of the project is refused like an include out of
    it (AF004): validating a spec, perhaps from a pull request, must not tell whether a file
    elsewhere exists, and apply must not hand a worker a file from anywhere on the machine."""
    out = []
    root = FsPath(base_dir)
    for name, model in spec.models.items():
        if not model.script:
            continue
        path = root / model.script
        location = smap.value(("models", name, "script"))
        outside = None
        if escapes(model.script):
            outside = "points outside the project directory"
        elif "\x00" not in model.script and not inside(path, root):
            outside = "leads outside the project directory (through a symbolic link)"
        if outside:
            out.append(
                Diagnostic(
                    Severity.ERROR,
                    "AF004",
                    f"script {model.script!r} of model {name!r} {outside}",
                    address=f"model.{name}",
                    location=location,
                    hint="a script is a relative path that stays inside the spec's directory; "
                    "move the file into the project",
                )
            )
        elif not path.is_file():
            out.append(
                Diagnostic(
                    Severity.ERROR,
                    "AF212",
                    f"script file {model.script!r} of model {name!r} does not exist",
                    address=f"model.{name}",
                    location=location,
                    hint="paths are relative to the directory of the spec ("
                    + (
                        display_name(root).replace(".", "the current directory")
                        if display_name(root) == "."
                        else display_name(root)
                    )
                    + ")",
                )
            )
    return out


def build_spec(
    raw: RawSpec,
    *,
    env: str | None = None,
    variables: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    providers: frozenset[str] | None = None,
) -> LoadResult:
    """Turn a read spec into a typed, checked spec for one environment (or the base)."""
    with paused_collector():
        return _build(raw, env=env, variables=variables, environ=environ, providers=providers)


def _build(
    raw: RawSpec,
    *,
    env: str | None,
    variables: Mapping[str, str] | None,
    environ: Mapping[str, str] | None,
    providers: frozenset[str] | None,
) -> LoadResult:
    environ = dict(os.environ if environ is None else environ)
    diagnostics = list(raw.diagnostics)
    # the read spec is shared by every build: nothing below changes its document, and an
    # overlay adds its locations to a layer over the read source map, not to that map
    smap = raw.smap
    result = LoadResult(None, diagnostics, smap, raw.files, env, base_dir=raw.base_dir)
    if raw.document is None:
        return _finish(result)
    document = raw.document
    if env is not None:
        envs = document.get("environments")
        envs = envs if isinstance(envs, dict) else {}
        overlay = envs.get(env)
        if env not in envs:
            diagnostics.append(
                Diagnostic(
                    Severity.ERROR,
                    "AF010",
                    f"environment {env!r} is not declared",
                    location=smap.key(("environments",)),
                    hint=did_you_mean(env, envs, "environment")
                    or "declare it under 'environments:'",
                )
            )
        elif overlay is not None and not isinstance(overlay, dict):
            diagnostics.append(
                Diagnostic(
                    Severity.ERROR,
                    "AF102",
                    f"environment {env!r} must be a mapping of overrides",
                    location=smap.value(("environments", env)),
                )
            )
        elif overlay:
            smap = result.smap = raw.smap.layered()
            document = apply_overlay(document, overlay, smap, ("environments", env))
    values, problems, unresolved = _resolve_variables(document, smap, variables or {}, environ)
    diagnostics.extend(problems)
    hidden = _sensitive(document)
    rendered = interpolate(
        document, values, environ, smap, unresolved, smap.templated, sensitive=hidden
    )
    diagnostics.extend(rendered.diagnostics)
    result.secrets = rendered.secrets
    # as interpolation would have written them into text
    result.sensitive = {
        name: "" if values[name] is None else str(values[name])
        for name in sorted(hidden)
        if name in values
    }
    validated = validate_document(rendered.value, smap, rendered.failed)
    diagnostics.extend(validated.diagnostics)
    if validated.spec is not None:
        diagnostics.extend(_file_references(validated.spec, smap, raw.base_dir))
        ctx = CheckContext(
            validated.spec,
            smap,
            frozenset(validated.broken),
            providers,
            incomplete=has_errors(raw.diagnostics),
            document=rendered.value if isinstance(rendered.value, dict) else {},
        )
        diagnostics.extend(run_checks(ctx))
        result.spec = validated.spec
    return _finish(result)


def _finish(result: LoadResult) -> LoadResult:
    unique = {(d.code, d.summary, d.location): d for d in result.diagnostics}
    result.diagnostics[:] = sorted(unique.values(), key=sort_key)
    if has_errors(result.diagnostics):
        result.spec = None
    return result


def load_spec(
    path: str | os.PathLike[str],
    *,
    env: str | None = None,
    variables: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    providers: frozenset[str] | None = None,
) -> LoadResult:
    """Read and check the spec at ``path`` (a file or a directory) for one environment."""
    with paused_collector():
        raw = read_spec(path)
    return build_spec(raw, env=env, variables=variables, environ=environ, providers=providers)
