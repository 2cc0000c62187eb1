"""What the local engine reports: each resource as observed, and its status.

:func:`observe` is what ``plan`` reads through the local provider (an agent with fewer live
workers than its replicas reads back with the smaller number: drift that apply restores; a memory
store with its data's size; the bus with whether it is connected); :func:`status` is what
``agentform engine status`` and ``agentform status`` print. Functions of an
:class:`~agentform.runtime.host.view.EngineView`, called by :mod:`.engine` for the control API.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any

from agentform.addresses import Address
from agentform.runtime.host.view import EngineView
from agentform.runtime.store import StoreError

__all__ = ["observe", "status"]


def observe(engine: EngineView, address: str) -> dict[str, Any] | None:
    values = engine.resources.get(address)
    if values is None:
        return None
    observed = dict(values)
    kind, name = Address.parts(address)
    if kind == "agent" and name in engine.groups:
        group = engine.groups[name]
        # report what really runs: fewer live workers than replicas is drift
        running = group.running()
        starting = any(r.alive and not r.ready for r in group.members)
        if running < group.replicas and not starting:
            observed["replicas"] = running
        observed["status"] = group.status()
    if kind == "memory":
        observed["data"] = engine.memories.usage(name)
    if address == "runtime.bus":
        observed["status"] = {
            "url": engine.bus_url,
            "connected": bool(engine.nc and engine.nc.is_connected),
        }
    return observed


def status(engine: EngineView) -> dict[str, Any]:
    opened: dict[str, tuple[Any, str]] = {}
    if engine.breakers is not None:
        try:
            opened = engine.breakers.all_open()
        except StoreError as exc:  # the status still reports the rest
            engine.note(f"open circuit breakers cannot be read: {exc}")
    breakers = {a: {"until": t.isoformat(), "reason": why} for a, (t, why) in opened.items()}
    trips: dict[str, int] = {}
    if engine.audit_log is not None:  # the breakers' trips of the last hour, by agent
        since = datetime.fromtimestamp(time.time() - 3600, UTC).isoformat(timespec="microseconds")
        try:
            trips = engine.audit_log.counts_by_actor("breaker.tripped", since)
        except StoreError as exc:
            engine.note(f"circuit breaker trips cannot be read: {exc}")
    return {
        "pid": os.getpid(),
        "project": engine.project,
        "base_dir": str(engine.base_dir),
        "uptime": time.time() - engine.started,
        "bus": {
            "url": engine.bus_url,
            "embedded": engine.nats_server is not None,
            "nats_pid": engine.nats_server.pid if engine.nats_server else None,
            "connected": bool(engine.nc and engine.nc.is_connected),
        },
        "store": engine.store_url,
        "agents": [
            {
                **g.status(),
                "a2a": engine.a2a.urls.get(n),
                "breaker": breakers.get(n),
                "trips_last_hour": trips.get(f"agent:{n}", 0),
            }
            for n, g in engine.groups.items()
        ],
        "tasks": engine.store.counts() if engine.store is not None else {},
        "events": list(engine.notes[-10:]),
    }
