"""Providers: plugins that make resources real (``local``, ``docker``, ``kubernetes``, others).

Core reaches providers only through the ``agentform.providers`` entry-point group, the built-in
ones included, so a third-party provider is a peer of the built-ins. This module owns that
discovery; the provider protocol itself (read/plan/create/update/delete/import) arrives with the
plan/apply engine. Called by the CLI to tell ``validate`` which provider names exist.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

__all__ = ["ENTRY_POINT_GROUP", "available_providers", "provider_names"]

ENTRY_POINT_GROUP = "agentform.providers"


def available_providers() -> dict[str, EntryPoint]:
    """Installed providers by name (not imported: loading one may pull heavy clients)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def provider_names() -> frozenset[str]:
    return frozenset(available_providers())
