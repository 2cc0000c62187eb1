"""The ``docker`` provider: runs agents on a Docker engine (one labelled container per replica).

Registered through the ``agentform.providers`` entry point ``docker``, like any third-party
provider. Only its identity exists in this version: it deploys nothing, and loading it for a plan
or an apply fails with :attr:`DockerProvider.unavailable` (milestone 2, step 6, builds it).
"""

from __future__ import annotations

__all__ = ["DockerProvider"]


class DockerProvider:
    """Provider ``docker``."""

    name = "docker"
    # said instead of "does not implement the provider protocol" when a plan or apply loads it
    unavailable = (
        "the docker provider is not implemented in this version (milestone 2, step 6):"
        " plan and apply cannot deploy to it yet; use target.provider: local (an environment"
        " overlay can switch it back later)"
    )
