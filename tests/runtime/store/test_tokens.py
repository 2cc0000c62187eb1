"""Bearer tokens: shown once, stored as SHA-256 only, revoked at once, on both store backends."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from agentform.runtime.store.tokens import TOKEN_PREFIX, TokenError, TokenStore, token_hash


def test_a_token_authenticates_its_subject_until_revoked(runtime_url: str) -> None:
    tokens = TokenStore(runtime_url)
    try:
        token, info = tokens.create("alice")
        other, _ = tokens.create("alice")
        assert token.startswith(TOKEN_PREFIX) and token != other
        assert info.id == token_hash(token)[:12]
        assert tokens.authenticate(token) == "alice"
        assert tokens.authenticate(token + "x") is None
        assert tokens.authenticate("") is None
        assert tokens.revoke("alice") == 2
        assert tokens.authenticate(token) is None
        assert tokens.revoke("alice") == 0
        assert [(t.subject, t.revoked) for t in tokens.list()] == [("alice", True)] * 2
    finally:
        tokens.close()


def test_only_the_hash_is_stored(runtime_url: str) -> None:
    tokens = TokenStore(runtime_url)
    try:
        token, _ = tokens.create("bob")
    finally:
        tokens.close()
    engine = create_engine(runtime_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            rows = [tuple(r) for r in conn.execute(text("SELECT * FROM agentform_tokens"))]
    finally:
        engine.dispose()
    assert token not in repr(rows)
    assert rows[0][0] == token_hash(token)


@pytest.mark.parametrize("subject", ["", "x" * 256], ids=["empty", "too-long"])
def test_a_subject_must_be_a_name(runtime_url: str, subject: str) -> None:
    tokens = TokenStore(runtime_url)
    try:
        with pytest.raises(TokenError, match="subject"):
            tokens.create(subject)
    finally:
        tokens.close()
