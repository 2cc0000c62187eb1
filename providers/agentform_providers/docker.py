"""The ``docker`` provider: runs agents on a Docker engine (one labelled container per replica).

Registered through the ``agentform.providers`` entry point ``docker``, like any third-party
provider. Only its identity exists so far; create/read/update/delete arrive with the plan/apply
engine (milestone 1, step 2) and the runtime (step 3).
"""

from __future__ import annotations

__all__ = ["DockerProvider"]


class DockerProvider:
    """Provider ``docker``."""

    name = "docker"
