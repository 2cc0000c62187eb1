"""The spec: agentform's YAML language, loaded into typed models with located diagnostics.

Public entry points: :func:`load_spec` (a file or directory → :class:`LoadResult`),
:func:`read_spec` + :func:`build_spec` (read once, build per environment), and :class:`Spec`.
Nothing here prints or exits; problems come back as diagnostics.
"""

from __future__ import annotations

from agentform.spec.files import RawSpec, read_spec
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
