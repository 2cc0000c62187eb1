"""Ids for tasks and conversations: time-ordered, so the store's indexes grow at their end.

A task id and a conversation id are keys of the store's B-tree indexes (the tasks' primary key,
the steps' ``(task_id, seq)``, the conversation-turn index). A random id lands on a random page
of each index, so every task dirtied a few pages of its own that each commit then wrote to the
WAL; ids that grow with time all land at the end, on the same few pages. Measured on the store's
per-task statements (16 tasks a transaction): 107 µs of SQLite work per task with random ids,
51 µs with time-ordered ones (``benchmarks/README.md``).

:func:`new_id` follows UUIDv7 (RFC 9562): 48 bits of Unix time in milliseconds, then 74 random
bits (with the version and variant bits), as 32 hex digits, like ``uuid4().hex``; ids made in
one process also grow within a millisecond (the random part of a later id in the same
millisecond is larger), so they sort in the order they were made. Ids from elsewhere (a
client's own, A2A's) are kept as given.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["new_id"]

_lock = threading.Lock()
_last = (0, 0)  # (milliseconds, the 74 random bits) of the last id made here


def new_id() -> str:
    """A new time-ordered id (UUIDv7 as 32 lowercase hex digits)."""
    global _last  # noqa: PLW0603
    now = time.time_ns() // 1_000_000
    bits = int.from_bytes(os.urandom(10)) >> 6  # 74 random bits
    with _lock:
        last_ms, last_bits = _last
        if now <= last_ms:  # the same millisecond (or the clock stepped back): count on
            now, bits = last_ms, last_bits + 1 + (bits & 0xFFFF)
            if bits >> 74:  # 74 bits ran out within one millisecond: borrow the next one
                now, bits = now + 1, bits & ((1 << 74) - 1)
        _last = (now, bits)
    rand_a, rand_b = bits >> 62, bits & ((1 << 62) - 1)
    value = (now & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return f"{value:032x}"
