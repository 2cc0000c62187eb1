"""Bearer tokens for the agents' A2A servers: issued by agentform, stored only as hashes.

This module owns the ``agentform_tokens`` table (one row per token: the SHA-256 of the token, the
subject it authenticates, when it was made and whether it was revoked) and :class:`TokenStore`,
its three verbs ``create``/``authenticate``/``revoke`` plus ``list``. A token is shown once, by
``create``; only its hash is written, so a leaked database does not leak working tokens, and a
lost token is replaced, never recovered. The table lives in the runtime store's database, on the
engine :func:`agentform.runtime.store.tables.acquire` shares with :mod:`agentform.runtime.store`.

Called by the A2A servers (:mod:`agentform.runtime.a2a.auth`, to authenticate every request) and
by the engine's control API (``/v1/tokens``, behind ``agentform tokens``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    MetaData,
    String,
    Table,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from agentform.runtime.store.tables import READ_ONLY, SideTable, utc

__all__ = ["TOKEN_PREFIX", "TokenError", "TokenInfo", "TokenStore", "token_hash"]

TOKEN_PREFIX = "aft_"  # recognisable in logs and by secret scanners

metadata = MetaData()
tokens_table = Table(
    "agentform_tokens",
    metadata,
    Column("hash", String(64), primary_key=True),  # hex SHA-256 of the token
    Column("subject", String(255), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
    Column("revoked_at", DateTime(timezone=True)),
)


class TokenError(Exception):
    """The token table could not be used; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What is known of a token without the token: ``id`` is the start of its hash."""

    id: str
    subject: str
    created_at: datetime
    revoked: bool


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore(SideTable):
    """The tokens in the runtime database at ``url`` (the runtime store's URL)."""

    def __init__(self, url: str) -> None:
        super().__init__(url, metadata, TokenError, "token table")

    def create(self, subject: str) -> tuple[str, TokenInfo]:
        """A new token for ``subject``; the token itself is returned here and never again."""
        if not subject or len(subject) > 255:
            raise TokenError("a token's subject must be 1 to 255 characters")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        digest = token_hash(token)
        now = datetime.now(UTC)
        with self._begin() as conn:
            conn.execute(
                tokens_table.insert().values(
                    hash=digest, subject=subject, created_at=now, revoked=False
                )
            )
        return token, TokenInfo(digest[:12], subject, now, False)

    def authenticate(self, token: str) -> str | None:
        """The subject of a valid, unrevoked token; None for anything else."""
        digest = token_hash(token)
        query = select(tokens_table.c.hash, tokens_table.c.subject).where(
            tokens_table.c.hash == digest, tokens_table.c.revoked.is_(False)
        )
        with self._begin(read=True) as conn:
            row = conn.execute(query).first()
        # the lookup is by hash, never by token; compare in constant time all the same
        if row is None or not hmac.compare_digest(str(row.hash), digest):
            return None
        return str(row.subject)

    def revoke(self, subject: str) -> int:
        """Revoke every live token of ``subject``; returns how many were revoked."""
        statement = (
            update(tokens_table)
            .where(tokens_table.c.subject == subject, tokens_table.c.revoked.is_(False))
            .values(revoked=True, revoked_at=datetime.now(UTC))
        )
        with self._begin() as conn:
            return int(conn.execute(statement).rowcount)

    def list(self) -> list[TokenInfo]:
        query = select(tokens_table).order_by(tokens_table.c.subject, tokens_table.c.created_at)
        with self._begin(read=True) as conn:
            rows = conn.execute(query).all()
        return [
            TokenInfo(str(r.hash)[:12], str(r.subject), utc(r.created_at), bool(r.revoked))
            for r in rows
        ]

    @contextmanager
    def _begin(self, *, read: bool = False) -> Iterator[Connection]:
        if self._engine is None:
            raise TokenError("the token store is closed")
        try:
            with self._engine.connect() as conn:
                if read:
                    conn.execution_options(**{READ_ONLY: True})
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise TokenError(
                f"the token table failed ({exc}); retrying helps only if the database was"
                " unreachable or busy"
            ) from None
