"""The engine's bus: the embedded ``nats-server`` (or an existing NATS) and its JetStream layout.

Owns connecting the engine to the bus the ``runtime.bus`` resource names, starting the embedded
``nats-server`` (:mod:`agentform.runtime.bus.server`) on the port an earlier engine used when it
can, laying out the task stream, the agents' consumers and the health bucket
(:mod:`agentform.runtime.bus`), and renewing all of that when the server's files were deleted
under it. Functions of the :class:`~agentform.runtime.host.engine.Engine`, like
:mod:`agentform.runtime.host.health`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import Mapping
from typing import Any

from agentform.runtime import bus
from agentform.runtime.bus import BusLayout
from agentform.runtime.bus.server import NatsServer, stop_orphan
from agentform.runtime.errors import EngineError
from agentform.runtime.host import health
from agentform.runtime.host.view import EngineView

__all__ = ["close_bus", "renew_bus", "set_bus"]

log = logging.getLogger("agentform.engine")


async def set_bus(engine: EngineView, values: Mapping[str, Any]) -> None:
    """Connect to the bus ``values`` name (``url``: ``embedded`` or a NATS URL), unless already."""
    url = str(values.get("url") or "embedded")
    prefix = str(values.get("stream_prefix") or "agentform")
    layout = BusLayout(project=engine.project, prefix=prefix)
    if engine.nc is not None and engine.resources.get("runtime.bus") == dict(values):
        return
    await close_bus(engine)
    if url == "embedded":
        port = None
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            info = json.loads(engine.files.info.read_text())
            port = int(info["nats_port"])
            # the nats-server of an engine that was killed still runs: stop it, then reuse
            # its port (one server per store directory)
            await asyncio.to_thread(stop_orphan, int(info["nats_pid"]), engine.files.nats)
        engine.nats_server = NatsServer(engine.files.nats, port=port)
        try:
            url = await asyncio.to_thread(engine.nats_server.start)
        except Exception as exc:
            engine.nats_server = NatsServer(engine.files.nats)  # the old port may be taken
            url = await asyncio.to_thread(engine.nats_server.start)
            log.info("nats-server moved to a new port (%s)", exc)
    try:
        engine.nc = await bus.connect(url, name=f"agentform-engine-{engine.project}")
    except Exception as exc:
        raise EngineError(f"cannot connect to NATS at {url}: {exc}", 503) from exc
    engine.layout, engine.bus_url = layout, url
    js = engine.nc.jetstream()
    await bus.ensure_stream(js, layout)
    for agent in engine.groups:
        await bus.ensure_agent(js, layout, agent)
    await engine.nc.subscribe(
        layout.max_deliveries_advisory(), cb=functools.partial(health.on_max_deliveries, engine)
    )
    engine.write_info()


async def close_bus(engine: EngineView) -> None:
    """Disconnect, and stop the embedded server if there is one."""
    if engine.nc is not None:
        with contextlib.suppress(Exception):
            await engine.nc.close()
        engine.nc = None
    if engine.nats_server is not None:
        # forget it before stopping it: a health pass meanwhile must not restart it
        server, engine.nats_server = engine.nats_server, None
        await asyncio.to_thread(server.stop)


async def renew_bus(engine: EngineView) -> None:
    """JetStream's files went with the directory: a server without them stores no task, so
    start it afresh on the same port and lay the stream and consumers out again (tasks that
    were queued in the deleted files are lost; their records stay in the store)."""
    assert engine.nats_server is not None
    engine.note("the embedded nats-server's files were deleted too; restarting it")
    await asyncio.to_thread(engine.nats_server.stop)
    await asyncio.to_thread(engine.nats_server.start)
    for _ in range(100):  # the client reconnects by itself within reconnect_time_wait
        if engine.nc is not None and engine.nc.is_connected:
            break
        await asyncio.sleep(0.1)
    if engine.nc is None:
        return
    js = engine.nc.jetstream()
    await bus.ensure_stream(js, engine.layout)
    for agent in engine.groups:
        await bus.ensure_agent(js, engine.layout, agent)
