"""agentform: infrastructure-as-code for production AI agent systems.

The package is layered (enforced by import-linter, see pyproject.toml):

* ``agentform.cli`` is the only layer that prints or exits;
* ``agentform.graph`` derives addressed resources and their dependencies from a spec;
* ``agentform.spec`` loads, interpolates, validates and checks the YAML spec;
* ``agentform.diagnostics`` is the shared vocabulary of problems and how they are rendered.

Heavy libraries (pydantic, jinja2, rich) are imported lazily so ``agentform --help`` stays fast;
this module therefore exports only the version eagerly.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
