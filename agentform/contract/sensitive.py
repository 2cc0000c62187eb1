"""Sensitive variables across the process boundary: where their values may go, and how.

A variable declared ``sensitive: true`` is never rendered into the spec. ``${var.NAME}`` stays a
reference in the resource values planning sends (as ``${secret.NAME}`` does), and a resource that
holds one carries a :data:`FIELD` mapping each name to a fingerprint of the value, so that a
changed value is still a change in the plan (:mod:`agentform.sensitive`). The value itself
travels to the engine beside the resource, stays in the engine's memory, and reaches the agent's
workers as the environment variable :func:`env_name`. A worker puts it back only where
:data:`USED_IN` says (:func:`reveal`), and masks it in everything it records (:func:`mask`).

This module owns those rules; planning (the spec's interpolation, fingerprints, the local
provider) and the runtime (the worker) share them. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ENV_PREFIX",
    "FIELD",
    "REFERENCE",
    "USED_IN",
    "env_name",
    "mask",
    "matches_inside",
    "referenced",
    "reveal",
    "used_in",
]

FIELD = "sensitive"
# the worker reads a value where a user would set it for the CLI: AGENTFORM_VAR_NAME
ENV_PREFIX = "AGENTFORM_VAR_"
REFERENCE = re.compile(r"\$\{var\.([A-Za-z_][A-Za-z0-9_]*)\}")
# the only places the runtime resolves a sensitive reference: text it never prints (a model's
# instructions, a tool server's environment, request headers). Anywhere else the value would be
# needed at plan time, or shown: in a command line, a URL, an error message, a task's input.
USED_IN: tuple[str, ...] = (
    "agents.*.instructions",
    "tools.*.mcp.env.*",
    "tools.*.mcp.headers.*",
    "tools.*.a2a.headers.*",
)
_USED_IN = tuple(tuple(place.split(".")) for place in USED_IN)


def env_name(name: str) -> str:
    """The environment variable a worker finds the value of sensitive variable ``name`` in."""
    return ENV_PREFIX + name


def used_in(path: tuple[str | int, ...]) -> bool:
    """Whether the runtime resolves a sensitive reference at spec ``path``."""
    return any(
        len(place) == len(path)
        and all(part == "*" or part == str(step) for part, step in zip(place, path, strict=True))
        for place in _USED_IN
    )


def matches_inside(value: Any, pattern: re.Pattern[str], marker: str = "") -> set[str]:
    """The first group of every match of ``pattern`` in the strings inside ``value`` (nested
    maps and lists); strings without ``marker`` are skipped unread. Shared with the secrets'
    ``${secret.NAME}`` references (:mod:`agentform.secrets`)."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if marker in item:
                found.update(pattern.findall(item))
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return found


def referenced(value: Any) -> set[str]:
    """Every ``${var.NAME}`` name inside ``value`` (nested maps and lists)."""
    return matches_inside(value, REFERENCE, "${var.")


def reveal(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each reference to a name in ``values`` replaced by its value; references
    to other names are left as written."""
    if not values or "${var." not in text:
        return text
    return REFERENCE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def mask(value: Any, values: Mapping[str, str]) -> Any:
    """``value`` (text, or maps and lists of it) with every occurrence of a value in ``values``
    replaced by its reference ``${var.NAME}``: what a model repeated or a tool echoed is never
    recorded. Empty values mask nothing; the longest value is masked first."""
    pairs = [(v, "${var." + k + "}") for k, v in values.items() if v]
    if not pairs:
        return value
    pairs.sort(key=lambda pair: len(pair[0]), reverse=True)
    return _masked(value, pairs)


def _masked(value: Any, pairs: list[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        for plain, reference in pairs:
            if plain in value:
                value = value.replace(plain, reference)
        return value
    if isinstance(value, Mapping):
        return {k: _masked(v, pairs) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v, pairs) for v in value]
    return value
