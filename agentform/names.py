"""Names of things in a spec: what a valid name is, and "did you mean" suggestions.

Names become addresses (``agent.triage``), NATS subjects, SQL values, Kubernetes object names and
container labels, so they follow the strictest of those: lower-case letters, digits, ``-`` and
``_``, starting with a letter, at most 63 characters. Used by the semantic checks and by every
diagnostic that suggests a correction.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

__all__ = ["NAME_PATTERN", "did_you_mean", "is_valid_name", "suggest", "yaml_type"]

NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
_NAME_RE = re.compile(NAME_PATTERN)


_YAML_TYPES = {
    "dict": "mapping",
    "list": "list",
    "str": "string",
    "int": "number",
    "float": "number",
    "bool": "boolean",
    "NoneType": "null",
}


def yaml_type(value: object) -> str:
    """What a YAML author calls the type of ``value``: mapping, list, string, number..."""
    return _YAML_TYPES.get(type(value).__name__, type(value).__name__)


def is_valid_name(name: str) -> bool:
    return bool(_NAME_RE.match(name)) and not name.endswith(("-", "_"))


def suggest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``word``, if one is close enough to be a likely typo."""
    pool = list(candidates)
    lowered = {c.lower(): c for c in pool}
    if word.lower() in lowered:
        return lowered[word.lower()]
    matches = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: Iterable[str], what: str = "") -> str | None:
    """A hint sentence: ``did you mean 'kb'?``, or the list of valid choices when few exist."""
    pool = sorted(set(candidates))
    close = suggest(word, pool)
    if close is not None:
        return f"did you mean {close!r}?"
    if not pool:
        return f"no {what} is defined" if what else None
    if len(pool) <= 8:
        listed = ", ".join(repr(c) for c in pool)
        return f"defined {what}s: {listed}" if what else f"valid choices: {listed}"
    return None
