"""The ``local`` provider: runs agents as processes on this machine.

Registered through the ``agentform.providers`` entry point ``local``, like any third-party
provider. Only its identity exists so far; create/read/update/delete arrive with the plan/apply
engine (milestone 1, step 2) and the runtime (step 3).
"""

from __future__ import annotations

__all__ = ["LocalProvider"]


class LocalProvider:
    """Provider ``local``."""

    name = "local"
