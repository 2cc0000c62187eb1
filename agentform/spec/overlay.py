"""Environment overlays: merge ``environments.NAME`` over the base spec for ``--env NAME``.

Mappings merge key by key, recursively; any other value (scalars, lists) replaces the base value;
``null`` removes the key from the base (drop an agent, a tool or a limit in one environment).
Locations follow the values, so an error in a merged value points at the overlay line that set it.
Called by the loader before interpolation.
"""

from __future__ import annotations

from typing import Any

from agentform.spec.sourcemap import Path, SourceMap

__all__ = ["apply_overlay"]


def apply_overlay(
    base: dict[str, Any], overlay: dict[str, Any], smap: SourceMap, overlay_path: Path
) -> dict[str, Any]:
    """Return ``base`` with ``overlay`` merged in; ``smap`` gains the overlay's locations."""
    rebased = smap.rebase(overlay_path, (), within=overlay)
    merged = _merge(base, overlay, ())
    smap.values.update(rebased.values)
    smap.keys.update(rebased.keys)
    smap.templated.update(rebased.templated)
    return merged


def _merge(base: dict[str, Any], overlay: dict[str, Any], path: Path) -> dict[str, Any]:
    out = dict(base)
    for key, value in overlay.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, (*path, key))
        else:
            out[key] = value
    return out
