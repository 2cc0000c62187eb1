"""The engine directory's logs: each kept under a size, and read from a byte offset.

``engine.log`` (the engine's own output, opened by :mod:`.client` when it starts the engine) and
``logs/AGENT.log`` (every worker of the agent and what its tools write to stderr, opened by
:mod:`.supervisor`) are written by processes whose stdout and stderr *are* the file, opened for
appending. Renaming the file would leave them writing into the renamed one, so a log that has
passed :data:`MAX_BYTES` is rotated by copying and truncating it (as logrotate's
``copytruncate``): its bytes are copied to ``NAME.1`` (older copies move to ``.2`` up to
``.BACKUPS``, the oldest is dropped) and the file is cut to nothing; its writers go on appending
at its new end. :func:`keep_rotating` checks once a second, so a log may pass the limit by a
second's worth of lines; a line written in the instant between the copy and the cut can be lost.
``AGENTFORM_LOG_MAX_BYTES`` sets the limit for an engine (read when it starts).

Offsets (``GET /v1/logs/AGENT?offset=N``, ``agentform logs AGENT -f``): the copy keeps every
byte at the offset it had, so an offset past the end of the log means the log was rotated since
it was read there. :func:`read_from` then answers the rest of ``NAME.1`` from that offset
followed by the new log from its start, and the next offset counts in the new log: a follower
misses nothing unless the log is rotated twice between two reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

from agentform import private
from agentform.runtime.host.files import EngineFiles

__all__ = [
    "BACKUPS",
    "MAX_BYTES",
    "MAX_OFFSET",
    "MAX_READ",
    "backup",
    "keep_rotating",
    "limit",
    "read_from",
    "rotate",
]

log = logging.getLogger("agentform.engine")
MAX_BYTES = 10 * 1024 * 1024  # a log is rotated once it is larger
BACKUPS = 3  # NAME.1 (the newest) .. NAME.3 are kept
MAX_READ = 1_000_000  # bytes one read answers
MAX_OFFSET = 10**15  # larger offsets are refused: no log gets there
_CHUNK = 1 << 20


def limit() -> int:
    """The size logs are rotated at: ``AGENTFORM_LOG_MAX_BYTES``, else :data:`MAX_BYTES`."""
    text = os.environ.get("AGENTFORM_LOG_MAX_BYTES", "")
    return int(text) if text.isdigit() and int(text) > 0 else MAX_BYTES


def backup(path: Path, number: int) -> Path:
    """The ``number``-th copy of log ``path`` (1 is the newest)."""
    return path.with_name(f"{path.name}.{number}")


def rotate(path: Path, max_bytes: int, backups: int = BACKUPS) -> bool:
    """Copy ``path`` to ``path.1`` and truncate it if it is larger than ``max_bytes``; older
    copies move up one number. Returns whether it rotated."""
    try:
        if path.stat().st_size <= max_bytes:
            return False
    except FileNotFoundError:
        return False
    for number in range(backups - 1, 0, -1):
        with contextlib.suppress(FileNotFoundError):
            backup(path, number).replace(backup(path, number + 1))
    copy = backup(path, 1)
    with path.open("r+b") as source:
        fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, private.FILE_MODE)
        with os.fdopen(fd, "wb") as target:
            # read to the end, with what writers append meanwhile; the cut follows the read
            # that found the end at once, so only a line written in between is lost
            while chunk := source.read(_CHUNK):
                target.write(chunk)
            source.truncate(0)
    return True


def read_from(path: Path, offset: int, most: int = MAX_READ) -> tuple[bytes, int]:
    """Up to ``most`` bytes of the log from ``offset``, and the offset to read from next.

    An offset past the log's end means it was rotated since: the rest of ``path.1`` from there
    comes first, then the new log from its start (the next offset counts in the new log)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return b"", 0
    earlier = b""
    if offset > size:
        earlier = _read(backup(path, 1), offset, most)
        offset = 0
    data = _read(path, offset, most - len(earlier))
    return earlier + data, offset + len(data)


def _read(path: Path, offset: int, most: int) -> bytes:
    if most <= 0:
        return b""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read(most)
    except (FileNotFoundError, OSError):
        return b""


async def keep_rotating(
    files: EngineFiles, stopping: asyncio.Event, max_bytes: int, every: float = 1.0
) -> None:
    """Rotate the engine's log and every agent's log as they pass ``max_bytes``, until
    ``stopping`` is set."""
    while not stopping.is_set():
        logs = [files.log, *sorted(files.logs.glob("*.log"))]
        for path in logs:
            try:
                if await asyncio.to_thread(rotate, path, max_bytes):
                    log.info("%s passed %d bytes: rotated to %s.1", path.name, max_bytes, path.name)
            except OSError as exc:
                log.warning("could not rotate %s: %s", path, exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), every)
