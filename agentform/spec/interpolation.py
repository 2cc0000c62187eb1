"""Spec-time interpolation: ``${var.x}``, ``${env.X}`` and ``${secret.X}`` in spec values.

Expressions are Jinja2 expressions evaluated in :mod:`agentform.expressions`' sandbox with
``StrictUndefined`` (a spec from an untrusted pull request is validated in CI, so it must not be
able to run code, and a typo must fail rather than render empty). Only ``${ }`` is ours:
``{{ }}`` and ``{% %}`` are runtime prompt templates and are left untouched; ``$${`` writes a
literal ``${``. A value that is exactly one ``${expr}`` keeps the expression's type
(``replicas: ${var.replicas}`` is an integer); anything else is text.

Secrets are references, never values: ``${secret.NAME}`` is kept verbatim so the runtime resolves
it when it needs it, and the names used are collected so state can store fingerprints. A secret
inside a larger expression (``${secret.X | upper}``) is refused, since it would need the value.
A sensitive variable is a reference too: ``${var.NAME}`` is kept verbatim where the runtime
resolves it (:data:`agentform.contract.sensitive.USED_IN`), and refused anywhere else or inside a
larger expression. Called by the loader after overlays are merged and before the models validate.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentform.contract.sensitive import USED_IN, used_in
from agentform.diagnostics import Diagnostic, Severity
from agentform.expressions import SecurityError, Undefined, UndefinedError
from agentform.expressions import TemplateSyntaxError as JinjaSyntaxError
from agentform.names import did_you_mean
from agentform.spec.sourcemap import Path, SourceMap

__all__ = ["Interpolation", "interpolate", "split_template"]

_SECRET_ONLY = re.compile(r"^\s*secret\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")
_SECRET_ANY = re.compile(r"\bsecret\b")
_REF = re.compile(r"\b(var|env)\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")
_VAR_ONLY = re.compile(r"^\s*var\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")
# every way an expression names a variable: var.NAME, var['NAME'], var["NAME"]
_VAR_NAMED = re.compile(r"\bvar\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*['\"]([^'\"]*)['\"])")
_NOT_INTERPOLATED = {"variables", "environments", "include"}


class TemplateSyntaxError(ValueError):
    """A ``${`` without its closing ``}``."""


# "${" + an expression without braces or quotes + "}": nearly every interpolation in a spec
_SIMPLE = re.compile(r"\$\{([^{}'\"]*)\}")


def split_template(text: str) -> list[tuple[bool, str]]:
    """Split text into ``(is_expression, part)`` pieces; ``$${`` is a literal ``${``."""
    if "$${" not in text:
        pieces = _SIMPLE.split(text)
        if len(pieces) // 2 == text.count("${"):  # every "${" starts a simple expression
            # the pieces the scan gives: literals (when not empty) and expressions, in order
            return [(bool(i % 2), piece) for i, piece in enumerate(pieces) if piece or i % 2]
    return _split_scan(text)


def _split_scan(text: str) -> list[tuple[bool, str]]:
    """:func:`split_template` for any text: a scan that knows quotes, nesting and ``$${``."""
    parts: list[tuple[bool, str]] = []
    buf: list[str] = []
    i, n = 0, len(text)
    while i < n:
        k = text.find("${", i)
        if k < 0:
            buf.append(text[i:])
            break
        if k > 0 and text[k - 1] == "$":  # "$${" is the escape for a literal "${"
            buf.append(text[i : k - 1] + "${")
            i = k + 2
            continue
        buf.append(text[i:k])
        j, depth, quote = k + 2, 1, ""
        while j < n:
            ch = text[j]
            if quote:
                if ch == "\\":
                    j += 1
                elif ch == quote:
                    quote = ""
            elif ch in "'\"":
                quote = ch
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        if j >= n:
            raise TemplateSyntaxError(f"'${{' at offset {k} has no closing '}}'")
        literal = "".join(buf)
        if literal:
            parts.append((False, literal))
        buf = []
        parts.append((True, text[k + 2 : j]))
        i = j + 1
    literal = "".join(buf)
    if literal:
        parts.append((False, literal))
    return parts


@dataclass
class Interpolation:
    """What rendering found: the rendered value, its problems, and the secrets and sensitive
    variables it references (kept as references), each with where."""

    value: Any
    diagnostics: list[Diagnostic] = field(default_factory=list)
    secrets: dict[str, list[Path]] = field(default_factory=dict)
    sensitive: dict[str, list[Path]] = field(default_factory=dict)
    failed: set[Path] = field(default_factory=set)  # paths left unrendered by an error


def _path_order(path: Path) -> tuple[tuple[int, str], ...]:
    return tuple((0, str(p)) if isinstance(p, int) else (1, p) for p in path)


def _child(node: Any, part: str | int) -> Any:
    """``node[part]`` if it exists (an overlay may have removed or reshaped it), else None."""
    if isinstance(node, dict) and isinstance(part, str):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


@functools.lru_cache(maxsize=4096)
def _compiled(expr: str) -> Callable[..., Any]:
    from agentform.expressions import safe_environment

    env = safe_environment()
    return env.compile_expression(expr, undefined_to_none=False)


class _Renderer:
    def __init__(
        self,
        variables: Mapping[str, Any],
        environ: Mapping[str, str],
        smap: SourceMap,
        sensitive: frozenset[str] = frozenset(),
    ) -> None:
        # a sensitive value is not in the context: no expression can render it
        shown = {k: v for k, v in variables.items() if k not in sensitive}
        self.context = {"var": shown, "env": dict(environ)}
        self.sensitive = sensitive
        self.smap = smap
        self.out = Interpolation(None)
        # one context per render: an expression that evaluated once has the same value everywhere
        self.results: dict[str, Any] = {}
        self.unresolved: frozenset[str] = frozenset()

    def error(self, code: str, summary: str, path: Path, hint: str | None = None) -> None:
        self.out.failed.add(path)
        self.out.diagnostics.append(
            Diagnostic(Severity.ERROR, code, summary, location=self.smap.value(path), hint=hint)
        )

    def walk(self, value: Any, path: Path) -> Any:
        if isinstance(value, str):
            return self.render(value, path) if "${" in value else value
        if isinstance(value, dict):
            return {
                k: (v if not path and k in _NOT_INTERPOLATED else self.walk(v, (*path, k)))
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.walk(v, (*path, i)) for i, v in enumerate(value)]
        return value

    def visit(self, document: dict[str, Any], paths: Iterable[Path]) -> dict[str, Any]:
        root = dict(document)
        copied = {id(root)}
        for path in sorted(paths, key=_path_order):
            if not path or path[0] in _NOT_INTERPOLATED:
                continue
            node: Any = root
            for part in path[:-1]:
                child = _child(node, part)
                if not isinstance(child, dict | list):
                    node = None
                    break
                if id(child) not in copied:
                    child = dict(child) if isinstance(child, dict) else list(child)
                    copied.add(id(child))
                    node[part] = child
                node = child
            last = path[-1]
            value = _child(node, last) if node is not None else None
            if isinstance(value, str) and "${" in value:
                node[last] = self.render(value, path)
        return root

    def render(self, text: str, path: Path) -> Any:
        try:
            parts = split_template(text)
        except TemplateSyntaxError as exc:
            self.error(
                "AF009",
                f"unterminated interpolation in {text!r}: {exc}",
                path,
                hint="close the expression with '}', or write '$${' for a literal '${'",
            )
            return text
        if len(parts) == 1 and parts[0][0]:
            return self.evaluate(parts[0][1], path)
        rendered: list[str] = []
        for is_expr, part in parts:
            if not is_expr:
                rendered.append(part)
                continue
            result = self.evaluate(part, path)
            rendered.append("" if result is None else str(result))
        return "".join(rendered)

    def evaluate(self, expr: str, path: Path) -> Any:
        if self.sensitive and "var" in expr:
            named = {a or b for a, b in _VAR_NAMED.findall(expr)} & self.sensitive
            if named:
                return self.sensitive_reference(expr, path, named)
        if expr in self.results:  # the same expression has the same value all over the spec
            cached = self.results[expr]
            return copy.deepcopy(cached) if isinstance(cached, dict | list) else cached
        secret = _SECRET_ONLY.match(expr)
        if secret:
            self.out.secrets.setdefault(secret.group(1), []).append(path)
            return "${secret." + secret.group(1) + "}"
        if _SECRET_ANY.search(expr):
            self.error(
                "AF014",
                f"secret used inside an expression: ${{{expr}}}",
                path,
                hint="a secret may only appear alone as ${secret.NAME}; its value is "
                "resolved at run time and never enters the spec, plans or state",
            )
            return None
        if not expr.strip():
            self.error(
                "AF009",
                "empty interpolation '${}'",
                path,
                hint="write ${var.NAME}, ${env.NAME} or ${secret.NAME}",
            )
            return None
        try:
            result = _compiled(expr)(**self.context)
            if isinstance(result, Undefined):
                self.undefined(expr, path)
                return None
            self.results[expr] = result
            return copy.deepcopy(result) if isinstance(result, dict | list) else result
        except JinjaSyntaxError as exc:
            self.error("AF009", f"invalid expression ${{{expr}}}: {exc.message}", path)
        except UndefinedError:
            self.undefined(expr, path)
        except SecurityError as exc:
            self.error(
                "AF009",
                f"expression ${{{expr}}} is not allowed: {exc}",
                path,
                hint="interpolation runs sandboxed: only plain values and filters",
            )
        except Exception as exc:  # any evaluation error is the spec's, not ours
            self.error("AF009", f"expression ${{{expr}}} failed: {exc}", path)
        return None

    def sensitive_reference(self, expr: str, path: Path, named: set[str]) -> str | None:
        """``${var.NAME}`` of a sensitive variable, kept as written where the runtime resolves
        it; None (and an error) anywhere else, or inside a larger expression."""
        alone = _VAR_ONLY.match(expr)
        name = min(named)
        if alone is None:
            self.error(
                "AF014",
                f"sensitive variable {name!r} used inside an expression: ${{{expr}}}",
                path,
                hint=f"a sensitive variable may only appear alone as ${{var.{name}}}; its value "
                "is resolved at run time and never enters plans or state",
            )
            return None
        if not used_in(path):
            where = ".".join(map(str, path))
            self.error(
                "AF014",
                f"sensitive variable {name!r} used in {where}, where its value would be shown",
                path,
                hint="the runtime resolves a sensitive value only in "
                + ", ".join(USED_IN)
                + "; use it there, keep the value in a secret, or drop sensitive: true",
            )
            return None
        self.out.sensitive.setdefault(name, []).append(path)
        return "${var." + name + "}"

    def undefined(self, expr: str, path: Path) -> None:
        for kind, name in _REF.findall(expr):
            scope = self.context[kind]
            if name in scope:
                continue
            if kind == "var" and name in self.unresolved:
                self.out.failed.add(path)  # "has no value" is already reported
                return
            if kind == "var":
                self.error(
                    "AF008",
                    f"undefined variable {name!r} in ${{{expr}}}",
                    path,
                    hint=did_you_mean(name, scope, "variable")
                    if scope
                    else "declare it under 'variables:', with a default or set by --var",
                )
            else:
                self.error(
                    "AF008",
                    f"environment variable {name!r} is not set (${{{expr}}})",
                    path,
                    hint=f"export {name}=..., or give a fallback: "
                    f"${{env.{name} | default('value')}}",
                )
            return
        self.error(
            "AF008",
            f"undefined name in ${{{expr}}}",
            path,
            hint="expressions may use var.NAME, env.NAME and secret.NAME",
        )


def interpolate(
    document: Any,
    variables: Mapping[str, Any],
    environ: Mapping[str, str],
    smap: SourceMap,
    unresolved: frozenset[str] = frozenset(),
    paths: Iterable[Path] | None = None,
    sensitive: frozenset[str] = frozenset(),
) -> Interpolation:
    """Render every ``${...}`` in ``document`` (except under variables/environments/include).

    ``unresolved`` are declared variables without a value (already reported): using one fails
    the value silently instead of reporting it again as undefined. ``paths``, when known (the
    YAML reader records them), are the only places holding ``${``: only they are visited, and
    only the containers on the way to them are copied, instead of walking every node.
    ``sensitive`` are the variables declared ``sensitive: true``: kept as references.
    """
    renderer = _Renderer(variables, environ, smap, sensitive)
    renderer.unresolved = unresolved
    if paths is None or not isinstance(document, dict):
        renderer.out.value = renderer.walk(document, ())
    else:
        renderer.out.value = renderer.visit(document, paths)
    return renderer.out
