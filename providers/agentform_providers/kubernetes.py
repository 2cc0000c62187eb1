"""The ``kubernetes`` provider: runs agents on a Kubernetes cluster.

Registered through the ``agentform.providers`` entry point ``kubernetes``, like any third-party
provider. Only its identity exists so far; create/read/update/delete arrive with the plan/apply
engine (milestone 1, step 2) and the runtime (step 3).
"""

from __future__ import annotations

__all__ = ["KubernetesProvider"]


class KubernetesProvider:
    """Provider ``kubernetes``."""

    name = "kubernetes"
