"""Leases: named locks shared by every worker of a project, in a JetStream key/value bucket.

A lease is one key in the bucket ``AF_<project>_leases`` whose value names its holder and when it
expires. Taking one is compare-and-set: ``create`` succeeds only if the key is absent, and a lease
whose holder stopped renewing it (it died, or hung) can be taken over only by a compare-and-set
on the exact revision that was read, so two workers can never both believe they hold it. Holders
renew with the same compare-and-set; a renewal that fails means the lease was lost, and the holder
must stop. Release deletes the key at the revision held.

This module owns :class:`Leases` and :class:`Lease`. Used by the worker to serialise tool calls
that declare a ``lock`` (and, later, by shared memory); it knows nothing of tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.errors import (
    BadRequestError,
    BucketNotFoundError,
    KeyWrongLastSequenceError,
    NotFoundError,
)
from nats.js.kv import KeyValue

__all__ = ["Lease", "LeaseBusy", "LeaseLost", "Leases"]

_WRONG_LAST = (10071, 10164)  # JetStream: wrong last sequence (compare-and-set lost)
_KEY = re.compile(r"^[-/_=.a-zA-Z0-9]{1,200}$")


class LeaseBusy(Exception):
    """The lease stayed held by someone else for as long as we were willing to wait."""


class LeaseLost(Exception):
    """A renewal found the lease taken over: the holder must stop what it does under it."""


@dataclass
class Lease:
    name: str
    key: str
    holder: str
    revision: int
    expires_at: float


class Leases:
    """The leases of one project."""

    def __init__(self, js: JetStreamContext, bucket: str) -> None:
        self.js = js
        self.bucket = bucket  # BusLayout.leases
        self._kv: KeyValue | None = None

    async def kv(self) -> KeyValue:
        if self._kv is None:
            try:
                self._kv = await self.js.key_value(self.bucket)
            except BucketNotFoundError:
                self._kv = await self.js.create_key_value(bucket=self.bucket, history=1)
        return self._kv

    @staticmethod
    def key_of(name: str) -> str:
        if _KEY.match(name):
            return name
        digest = hashlib.sha256(name.encode()).hexdigest()[:40]
        return f"h.{digest}"

    async def acquire(self, name: str, holder: str, *, ttl: float, wait: float) -> Lease:
        """Take the lease ``name`` for ``ttl`` seconds, waiting up to ``wait`` seconds."""
        kv, key = await self.kv(), self.key_of(name)
        deadline = time.monotonic() + wait
        delay = 0.01
        while True:
            expires = time.time() + ttl
            value = json.dumps({"holder": holder, "name": name, "expires_at": expires}).encode()
            try:
                revision = await kv.create(key, value)
                return Lease(name, key, holder, revision, expires)
            except KeyWrongLastSequenceError:
                pass
            try:
                entry = await kv.get(key)
                current = json.loads(entry.value or b"{}")
                if float(current.get("expires_at", 0)) < time.time() and entry.revision:
                    # the holder stopped renewing: take over at exactly the revision we saw
                    revision = await kv.update(key, value, last=entry.revision)
                    return Lease(name, key, holder, revision, expires)
                if current.get("holder") == holder and entry.revision:
                    revision = await kv.update(key, value, last=entry.revision)
                    return Lease(name, key, holder, revision, expires)
                owner = str(current.get("holder", "someone"))
            except (NotFoundError, KeyWrongLastSequenceError):
                continue  # released or taken over meanwhile: try again at once
            if time.monotonic() >= deadline:
                raise LeaseBusy(f"the lock {name!r} is held by {owner}; gave up after {wait:g}s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)

    async def renew(self, lease: Lease, ttl: float) -> None:
        kv = await self.kv()
        expires = time.time() + ttl
        value = json.dumps(
            {"holder": lease.holder, "name": lease.name, "expires_at": expires}
        ).encode()
        try:
            lease.revision = await kv.update(lease.key, value, last=lease.revision)
        except KeyWrongLastSequenceError as exc:
            raise LeaseLost(f"the lock {lease.name!r} was taken over") from exc
        lease.expires_at = expires

    async def release(self, lease: Lease) -> None:
        kv = await self.kv()
        try:
            await kv.delete(lease.key, last=lease.revision)
        except NotFoundError:
            pass
        except BadRequestError as exc:  # the lease was taken over: it is not ours to release
            if exc.err_code not in _WRONG_LAST:
                raise

    @contextlib.asynccontextmanager
    async def hold(
        self, name: str, holder: str, *, ttl: float = 10.0, wait: float = 30.0
    ) -> AsyncIterator[Lease]:
        """Hold the lease while the block runs, renewing it every ``ttl / 3`` seconds."""
        lease = await self.acquire(name, holder, ttl=ttl, wait=wait)

        async def keep() -> None:
            while True:
                await asyncio.sleep(ttl / 3)
                await self.renew(lease, ttl)

        renewer = asyncio.create_task(keep())
        try:
            yield lease
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError, LeaseLost):
                await renewer
            await self.release(lease)
