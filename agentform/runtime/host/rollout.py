"""Rolling agents out: every agent's worker group from the engine's resources, and waiting for a
new configuration to come up (or putting the old one back).

:func:`reconfigure` recomputes each agent's worker configuration
(:func:`~agentform.runtime.worker.config.agent_configs`) and hands it to its group
(:class:`~agentform.runtime.host.supervisor.AgentGroup`), which starts new workers before it stops
old ones; :func:`rolled_out` waits until a worker of the new configuration heartbeats, or fails with
its last log lines; :func:`roll_back` restores what ran before. Functions of the
:class:`~agentform.runtime.host.engine.Engine`, like :mod:`agentform.runtime.host.health`.
"""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

from agentform.addresses import Address
from agentform.runtime.errors import EngineError
from agentform.runtime.host import bus_link, health
from agentform.runtime.host.files import tail
from agentform.runtime.host.supervisor import AgentGroup
from agentform.runtime.host.view import EngineView
from agentform.runtime.worker.config import WorkerConfig, agent_configs

__all__ = ["reconfigure", "roll_back", "rolled_out"]


def reconfigure(engine: EngineView) -> None:
    """Recompute every agent's worker configuration and hand it to its group."""
    configs: dict[str, tuple[WorkerConfig, int]] = {}
    if engine.bus_url is not None and engine.store_url is not None:
        configs = agent_configs(
            engine.resources,
            project=engine.project,
            base_dir=engine.base_dir,
            bus_url=engine.bus_url,
            store_url=engine.store_url,
            layout=engine.layout,
        )
    agents = {Address.name_of(a) for a in engine.resources if a.startswith("agent.")}
    for name in list(engine.groups):
        if name not in agents:
            del engine.groups[name]
    for name, (config, replicas) in configs.items():
        group = engine.groups.get(name)
        if group is None:
            group = engine.groups[name] = AgentGroup(name, config, replicas, engine.files.dir)
        else:
            group.config, group.replicas = config, replicas
        group.secret_env = {**engine.secrets, **bus_link.bus_env(engine, name)}
        group.on_exit = functools.partial(health.worker_exited, engine)


async def roll_back(engine: EngineView, address: str, previous: dict[str, Any] | None) -> None:
    """A failed rollout leaves what ran before: the old workers were never stopped."""
    async with engine.mutex:
        if previous is None:
            engine.resources.pop(address, None)
            name = Address.name_of(address)
            if address.startswith("agent.") and name in engine.groups:
                await engine.groups.pop(name).stop_all()
        else:
            engine.resources[address] = previous
        reconfigure(engine)
        engine.persist()
    engine.note(f"rolled {address} back: its new configuration did not start")


async def rolled_out(engine: EngineView, agent: str, timeout: float = 60.0) -> None:
    """Wait until a worker of the agent's current configuration heartbeats.

    Apply must not report an agent deployed whose workers die at start (a missing secret, a
    tool server that cannot start): it fails with the worker's last log lines instead.
    """
    group = engine.groups.get(agent)
    if group is None or group.replicas == 0:
        return
    await group.reconcile()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await health.check_heartbeats(engine)
        if group.running() >= 1:
            return
        current = [r for r in group.members if r.config_hash == group.config.config_hash]
        if any(r.quick_exits >= 2 for r in current):
            last = tail(group.log_path(), 6)
            raise EngineError(
                f"agent {agent}'s workers exit at start (restarting with backoff); last log"
                f" lines:\n{last}",
                422,
            )
        await asyncio.sleep(0.2)
    raise EngineError(f"agent {agent}'s workers did not become ready in {timeout:.0f}s", 504)
