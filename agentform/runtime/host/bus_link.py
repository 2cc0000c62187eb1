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
from pathlib import Path
from typing import Any

from agentform.runtime import bus
from agentform.runtime.bus import BusLayout
from agentform.runtime.bus.auth import CLIENT, ENGINE, BusUsers, agent_user, server_config
from agentform.runtime.bus.server import NatsServer, stop_orphan
from agentform.runtime.errors import EngineError
from agentform.runtime.host import health
from agentform.runtime.host.files import write_atomic
from agentform.runtime.host.view import EngineView

__all__ = ["bus_env", "close_bus", "reaches", "renew_bus", "set_bus", "sync_users"]

log = logging.getLogger("agentform.engine")


async def set_bus(engine: EngineView, values: Mapping[str, Any]) -> None:
    """Connect to the bus ``values`` name (``url``: ``embedded`` or a NATS URL), unless already."""
    url = str(values.get("url") or "embedded")
    prefix = str(values.get("stream_prefix") or "agentform")
    layout = BusLayout(project=engine.project, prefix=prefix)
    if engine.nc is not None and engine.resources.get("runtime.bus") == dict(values):
        return
    await close_bus(engine)
    engine.bus_users = None
    if url == "embedded":
        # the server runs with authorization: users and permissions from the spec (.auth)
        engine.bus_users = BusUsers.generate(prefix, engine.project, reaches(engine))
        _write_users(engine)
        port = None
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            info = json.loads(engine.files.info.read_text())
            port = int(info["nats_port"])
            # the nats-server of an engine that was killed still runs: stop it, then reuse
            # its port (one server per store directory)
            await asyncio.to_thread(stop_orphan, int(info["nats_pid"]), engine.files.nats)
        config = _config_path(engine)
        engine.nats_server = NatsServer(engine.files.nats, port=port, config=config)
        try:
            url = await asyncio.to_thread(engine.nats_server.start)
        except Exception as exc:
            # the old port may be taken
            engine.nats_server = NatsServer(engine.files.nats, config=config)
            url = await asyncio.to_thread(engine.nats_server.start)
            log.info("nats-server moved to a new port (%s)", exc)
    user, password = (
        engine.bus_users.credentials(ENGINE) if engine.bus_users is not None else (None, None)
    )
    try:
        engine.nc = await bus.connect(
            url, name=f"agentform-engine-{engine.project}", user=user, password=password
        )
    except Exception as exc:
        raise EngineError(f"cannot connect to NATS at {url}: {exc}", 503) from exc
    engine.layout, engine.bus_url = layout, url
    if engine.bus_users is not None:
        _write_credentials(engine, url)
    js = engine.nc.jetstream()
    await bus.ensure_stream(js, layout)
    for agent in engine.groups:
        await bus.ensure_agent(js, layout, agent)
    await engine.nc.subscribe(
        layout.max_deliveries_advisory(), cb=functools.partial(health.on_max_deliveries, engine)
    )
    engine.write_info()


def reaches(engine: EngineView) -> dict[str, set[str]]:
    """Agent -> the agents whose tasks its workers may publish: those it delegates to, and
    those that delegate to it (a child that ends resumes its parent)."""
    agents = {
        address.partition(".")[2]: list(values.get("delegates") or [])
        for address, values in engine.resources.items()
        if address.startswith("agent.")
    }
    out: dict[str, set[str]] = {
        name: set(delegates) & set(agents) for name, delegates in agents.items()
    }
    for name, delegates in agents.items():
        for other in delegates:
            if other in out:
                out[other].add(name)
    return out


def sync_users(engine: EngineView) -> None:
    """Give the embedded server the users the registered agents need (new agents, changed
    delegations), and have it read them again: before a new agent's workers connect."""
    users = engine.bus_users
    if users is None or engine.nats_server is None:
        return
    if users.update(reaches(engine)):
        _write_users(engine)
        engine.nats_server.reload()
        if engine.bus_url is not None:
            _write_credentials(engine, engine.bus_url)


def bus_env(engine: EngineView, agent: str) -> dict[str, str]:
    """What a worker of ``agent`` connects with, for its environment (never its config file,
    and the worker removes it from its environment before starting tools)."""
    users = engine.bus_users
    if users is None or agent_user(agent) not in users.users:
        return {}
    user, password = users.credentials(agent_user(agent))
    return {"AGENTFORM_BUS_USER": user, "AGENTFORM_BUS_PASSWORD": password}


def _config_path(engine: EngineView) -> Path:
    return engine.files.dir / "nats.conf"


def _write_users(engine: EngineView) -> None:
    assert engine.bus_users is not None
    write_atomic(_config_path(engine), server_config(engine.bus_users), 0o600)


def _write_credentials(engine: EngineView, url: str) -> None:
    """``bus.json``: the bus's URL and the engine's and client users' passwords, for programs
    on this machine that publish tasks (client) or watch the bus (engine): the owner's alone."""
    assert engine.bus_users is not None
    users = engine.bus_users.users
    body = {
        "url": url,
        "client": {"user": CLIENT, "password": users[CLIENT].password},
        "engine": {"user": ENGINE, "password": users[ENGINE].password},
        "inbound": f"{engine.bus_users.prefix}.{engine.project}.inbound.AGENT",
    }
    write_atomic(engine.files.dir / "bus.json", json.dumps(body, indent=1), 0o600)


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
    if engine.bus_users is not None:  # its configuration went with them: the same users
        _write_users(engine)
        if engine.bus_url is not None:
            _write_credentials(engine, engine.bus_url)
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
