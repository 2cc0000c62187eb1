"""Fakes for agentform's boundaries, and the suites that check real implementations against them.

Every boundary has a fake here that tests use instead of mocks: :class:`FakeProvider` keeps
resources in memory; :class:`FakeStateStore` keeps every serial of state in memory;
:class:`FakeModel` and :class:`FakeToolbox` stand in for a model and MCP tools in tests of the
agent loop; :func:`run_conformance` is the provider conformance suite that any provider
(built-in or third-party) runs in its own tests. Imported by tests only, never by the CLI.
"""

from __future__ import annotations

from agentform.testing.conformance import run_conformance
from agentform.testing.fake_model import FakeModel, FakeToolbox, FakeToolResult
from agentform.testing.fake_provider import FakeProvider
from agentform.testing.fake_state_store import FakeStateStore

__all__ = [
    "FakeModel",
    "FakeProvider",
    "FakeStateStore",
    "FakeToolResult",
    "FakeToolbox",
    "run_conformance",
]
