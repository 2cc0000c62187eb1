"""The spec: agentform's YAML language, loaded into typed models with located diagnostics.

Public entry points: :func:`load_spec` (a file or directory → :class:`LoadResult`),
:func:`read_spec` + :func:`build_spec` (read once, build per environment), and :class:`Spec`.
Nothing here prints or exits; problems come back as diagnostics.

Reading (:func:`read_spec`) needs only the YAML parser; the models, checks and templates that
building needs are imported when one of those names is first used, so a command can start
reading a large spec (on several CPUs) before it pays for importing them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentform.spec.files import RawSpec, read_spec

if TYPE_CHECKING:
    from agentform.spec.loader import LoadResult, build_spec, load_spec, parse_var_assignments
    from agentform.spec.models import Spec

__all__ = [
    "LoadResult",
    "RawSpec",
    "Spec",
    "build_spec",
    "load_spec",
    "parse_var_assignments",
    "read_spec",
]

_LAZY = {
    "LoadResult": "agentform.spec.loader",
    "build_spec": "agentform.spec.loader",
    "load_spec": "agentform.spec.loader",
    "parse_var_assignments": "agentform.spec.loader",
    "Spec": "agentform.spec.models",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
