"""The ``kubernetes`` provider: runs agents on a Kubernetes cluster.

Registered through the ``agentform.providers`` entry point ``kubernetes``, like any third-party
provider. Only its identity exists in this version: it deploys nothing, and loading it for a plan
or an apply fails with :attr:`KubernetesProvider.unavailable` (milestone 2, step 7, builds it).
"""

from __future__ import annotations

__all__ = ["KubernetesProvider"]


class KubernetesProvider:
    """Provider ``kubernetes``."""

    name = "kubernetes"
    # said instead of "does not implement the provider protocol" when a plan or apply loads it
    unavailable = (
        "the kubernetes provider is not implemented in this version (milestone 2, step 7):"
        " plan and apply cannot deploy to it yet; use target.provider: local (an environment"
        " overlay can switch it back later)"
    )
