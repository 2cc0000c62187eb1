"""Fixtures for the state tests: a throwaway PostgreSQL cluster, and a store URL per backend."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentform.testing.postgres import binaries, throwaway_cluster


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``postgresql+psycopg://agentform@127.0.0.1:PORT/agentform`` on a cluster made for the run."""
    if binaries() is None:
        reason = "PostgreSQL binaries (initdb) not found on PATH or under /usr/lib/postgresql"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with throwaway_cluster() as url:
        yield url


BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL for each backend: a SQLite file in tmp_path, or the session's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("postgres_url"))
