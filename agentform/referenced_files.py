"""File fingerprints: how a plan notices an edited file the spec points at.

A spec names some files instead of holding their content: a scripted model's rule file
(``models.X.script``) and the code of a stdio MCP server (``tools.X.mcp.command``, e.g.
``[python, servers/kb.py]``). Editing one changes what the agents do, yet not one value of the
spec, so ``plan`` said "No changes" and the workers kept the old rules. So every model and tool
that points at files of the project gets a ``files`` field mapping each path (as the spec
writes it, relative to the spec's directory) to a digest of its content; an edit is a change
that ``plan`` shows (``script file scripts/m.yaml changed``) and ``apply`` rolls out: the
engine's workers are named by a hash of the values they run with, models and tools included.

Which paths count follows the runtime's own rules for the same values
(:mod:`agentform.runtime.models.config` and :mod:`agentform.runtime.tools.mcp_client`): a
script relative to the spec's directory; a command's program when it is a relative path
(``./servers/run``), and its arguments that are relative paths of existing files (``-m module``
names a module, not a file, and is not followed). Only files inside the project are read (a
path that leads out of it is refused by validate, or not a file of the project). A script that
does not exist is validate's error (AF212) and is fingerprinted as missing (``None``).

Reads files, so it runs at the edge: called by :mod:`agentform.workflow` when it prepares a
plan, as :mod:`agentform.secrets` is, and when it loads a saved one (:func:`changed_since`: a
file edited after ``plan --out`` would reach the workers without the plan saying so).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from agentform.addresses import Address
from agentform.provider import ResourceValue
from agentform.spec.files import MAX_FILE_BYTES, escapes, inside

__all__ = ["FIELD", "LABELS", "changed_since", "digest", "paths_of", "with_file_fingerprints"]

FIELD = "files"
# how a plan names a file of each kind: "script file scripts/m.yaml changed"
LABELS = {"model": "script file", "tool": "server file"}


def digest(path: Path) -> str | None:
    """The content's sha256 (``sha256:HEX``); None when it cannot be read (missing, or over the
    size a spec file may have: such a file is no script nor server code)."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        with path.open("rb") as f:
            return f"sha256:{hashlib.file_digest(f, 'sha256').hexdigest()}"
    except OSError:
        return None


def paths_of(address: str, values: Mapping[str, Any], base_dir: Path) -> list[str]:
    """The project files resource ``address`` points at, as its values write them."""
    kind = Address.kind_of(address)
    if kind == "model":
        script = values.get("script")
        return [script] if isinstance(script, str) and _of_project(script, base_dir) else []
    if kind != "tool":
        return []
    mcp = values.get("mcp")
    command = mcp.get("command") if isinstance(mcp, Mapping) else None
    if not isinstance(command, list) or not command:
        return []
    found: list[str] = []
    program, *args = (str(part) for part in command)
    if "/" in program and _of_project(program, base_dir) and (base_dir / program).is_file():
        found.append(program)
    for arg in args:
        if arg.startswith("-") or not _of_project(arg, base_dir):
            continue
        if (base_dir / arg).is_file() and arg not in found:
            found.append(arg)
    return found


def _of_project(path: str, base_dir: Path) -> bool:
    if not path.strip() or "\x00" in path or escapes(path):
        return False
    try:
        return inside(base_dir / path, base_dir)
    except (OSError, ValueError):  # a name too long for the file system
        return False


def with_file_fingerprints(
    desired: Mapping[str, ResourceValue], base_dir: str | Path
) -> dict[str, ResourceValue]:
    """``desired`` with a ``files`` field on each model and tool that points at project files."""
    root = Path(base_dir)
    out: dict[str, ResourceValue] = {}
    for address, resource in desired.items():
        paths = paths_of(address, resource.values, root)
        if not paths:
            out[address] = resource
            continue
        prints = {path: digest(root / path) for path in sorted(paths)}
        out[address] = ResourceValue.of(address, {**resource.values, FIELD: prints})
    return out


def changed_since(changes: Iterable[Mapping[str, Any] | None], base_dir: str | Path) -> list[str]:
    """The files whose content is not what the values ``changes`` (a saved plan's, after each
    change) fingerprinted: edited since the plan was made."""
    root = Path(base_dir)
    edited: set[str] = set()
    for values in changes:
        prints = (values or {}).get(FIELD)
        if isinstance(prints, Mapping):
            edited.update(p for p, made in prints.items() if digest(root / p) != made)
    return sorted(edited)
