"""Fixtures for the memory tests: a runtime store on each backend (SQLite and a real
PostgreSQL started by :mod:`tests.state.conftest`), and a :class:`Memory` over it."""

from __future__ import annotations

from tests.runtime.conftest import postgres_url, runtime_url

__all__ = ["postgres_url", "runtime_url"]
