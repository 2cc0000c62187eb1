"""Secret fingerprints: how state notices a rotated secret without ever holding its value.

A spec refers to secrets as ``${secret.NAME}``; the reference is what desired values, plans and
state carry. So that a rotation (same name, new value) is still a change that ``plan`` shows and
``apply`` rolls out, every resource that references secrets also gets a ``secrets`` field mapping
each name to a fingerprint of its current value: a PBKDF2-SHA256 digest salted with the project,
slow on purpose so a short secret cannot be guessed from state by brute force. A secret that is not
set maps to ``None``. Values come from the caller's environment (the CLI passes ``os.environ``);
this module does no I/O itself. Called by the CLI when it prepares a plan.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from agentform.contract.sensitive import matches_inside
from agentform.provider import ResourceValue

__all__ = ["FIELD", "fingerprint", "referenced", "values_of", "with_fingerprints"]

FIELD = "secrets"
_REFERENCE = re.compile(r"\$\{secret\.([A-Za-z_][A-Za-z0-9_]*)\}")
_ITERATIONS = 200_000


def referenced(value: Any) -> set[str]:
    """Every secret name referenced anywhere inside ``value`` (nested maps and lists)."""
    return matches_inside(value, _REFERENCE)


@functools.lru_cache(maxsize=256)
def fingerprint(value: str, project: str) -> str:
    digest = hashlib.pbkdf2_hmac(
        "sha256", value.encode(), f"agentform/{project}".encode(), _ITERATIONS
    )
    return f"pbkdf2-sha256:{digest.hex()[:32]}"


def with_fingerprints(
    desired: Mapping[str, ResourceValue], environ: Mapping[str, str], project: str
) -> dict[str, ResourceValue]:
    """``desired`` with a ``secrets`` field on each resource that references secrets."""
    out: dict[str, ResourceValue] = {}
    for address, resource in desired.items():
        names = referenced(resource.values)
        if not names:
            out[address] = resource
            continue
        prints = {name: _print(environ.get(name), project) for name in sorted(names)}
        out[address] = ResourceValue.of(address, {**resource.values, FIELD: prints})
    return out


def _print(value: str | None, project: str) -> str | None:
    return None if value is None else fingerprint(value, project)


def values_of(names: Iterable[str], environ: Mapping[str, str]) -> dict[str, str]:
    """The values of the named secrets that are set (for handing to a runtime, never storing)."""
    return {name: environ[name] for name in names if name in environ}
