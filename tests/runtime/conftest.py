"""Fixtures for the runtime tests: a runtime store URL per backend, and a bare nats-server.

``postgres_url`` (a throwaway PostgreSQL cluster for the session) is defined once, in
:mod:`tests.state.conftest`, and imported here so pytest registers it for these tests too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from agentform.runtime.bus.server import NatsServer
from tests.state.conftest import postgres_url

__all__ = ["nats_url", "postgres_url", "runtime_url"]

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def runtime_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend: a SQLite file, or a new database on the cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runtime.db'}"
    server = str(request.getfixturevalue("postgres_url"))
    name = f"runtime_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return server.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A nats-server with JetStream for one test module (no users, no engine)."""
    server = NatsServer(tmp_path_factory.mktemp("nats"))
    try:
        yield server.start()
    finally:
        server.stop()
