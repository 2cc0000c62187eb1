"""Rolling agents out: every agent's worker group from the engine's resources, and waiting for a
new configuration to come up (or putting the old one back).

:func:`reconfigure` recomputes each agent's worker configuration
(:func:`~agentform.runtime.worker.config.agent_configs`) and hands it to its group
(:class:`~agentform.runtime.host.supervisor.AgentGroup`), which starts new workers before it stops
old ones; :func:`rolled_out` waits until a worker of the new configuration heartbeats, or fails with
its last log lines; :func:`roll_back` restores what ran before. Functions of the
:class:`~agentform.runtime.host.engine.Engine`, like :mod:`agentform.runtime.host.health`.

How long a rollout waits follows the new workers instead of a fixed deadline: it fails once
:func:`ready_timeout` seconds (``AGENTFORM_READY_TIMEOUT``, read by the engine, 60 by default)
pass without a sign of life from any of them (a start, a heartbeat, ``starting`` while a worker
opens its tool servers, or CPU time used), so a worker that is slow on a loaded machine but
getting somewhere is waited for, up to ten times that; a worker that exits at start fails the
rollout at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from pathlib import Path
from typing import Any

from agentform.addresses import Address
from agentform.runtime.errors import EngineError
from agentform.runtime.host import bus_link, forks, health
from agentform.runtime.host.files import tail
from agentform.runtime.host.supervisor import AgentGroup
from agentform.runtime.host.view import EngineView
from agentform.runtime.worker.config import WorkerConfig, agent_configs

__all__ = ["READY_TIMEOUT", "ready_timeout", "reconfigure", "roll_back", "rolled_out"]

log = logging.getLogger("agentform.engine")
READY_TIMEOUT = "AGENTFORM_READY_TIMEOUT"  # seconds without a sign of life that fail a rollout
DEFAULT_READY_TIMEOUT = 60.0
CEILING = 10  # times the timeout: even a worker that keeps showing life is given up then


def ready_timeout() -> float:
    """The engine's readiness timeout: ``AGENTFORM_READY_TIMEOUT`` seconds, 60 by default."""
    raw = os.environ.get(READY_TIMEOUT, "").strip()
    if not raw:
        return DEFAULT_READY_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value > 0:
        return value
    log.warning("%s=%r is not a number of seconds above 0; using 60", READY_TIMEOUT, raw)
    return DEFAULT_READY_TIMEOUT


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
    launcher = forks.forks_of(engine, engine.files.dir)
    # from the first resource on: the fork server imports the worker while apply goes on
    launcher.prestart()
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
        group.forks = launcher


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


async def rolled_out(engine: EngineView, agent: str, timeout: float | None = None) -> None:
    """Wait until a worker of the agent's current configuration heartbeats ``ready``.

    Apply must not report an agent deployed whose workers die at start (a missing secret, a
    tool server that cannot start): it fails with the worker's last log lines instead. The
    wait is pushed, not polled: the workers' heartbeats (:func:`health.watch_heartbeats`) and
    exits wake it. ``timeout`` (default :func:`ready_timeout`) counts from the last sign of
    life of a new worker, not from the start of the rollout.
    """
    group = engine.groups.get(agent)
    if group is None or group.replicas == 0:
        return
    timeout = ready_timeout() if timeout is None else timeout
    stop_watching = await health.watch_heartbeats(engine, agent)
    try:
        await group.reconcile()
        began = last_sign = time.monotonic()
        used: dict[int, float] = {}  # pid -> CPU seconds when last looked at
        while True:
            group.changed.clear()
            if stop_watching is None:  # no push: read the heartbeats
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
            now = time.monotonic()
            for replica in current:
                if replica.process is None or not replica.alive:
                    continue
                last_sign = max(last_sign, replica.started_at, replica.heard_at)
                cpu = _cpu_seconds(replica.process.pid)
                if cpu is not None and cpu > used.get(replica.process.pid, cpu):
                    last_sign = now  # busy starting: imports, tool servers, a slow disk
                if cpu is not None:
                    used[replica.process.pid] = cpu
            if now - last_sign > timeout or now - began > timeout * CEILING:
                quiet = now - last_sign > timeout
                why = f"showed no sign of life for {timeout:g}s" if quiet else "kept starting"
                raise EngineError(
                    f"agent {agent}'s workers did not become ready ({why}, {now - began:.0f}s in"
                    f" all; {READY_TIMEOUT} sets the limit); last log lines:\n"
                    f"{tail(group.log_path(), 6)}",
                    504,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(group.changed.wait(), 1.0 if stop_watching else 0.2)
    finally:
        if stop_watching is not None:
            with contextlib.suppress(Exception):
                await stop_watching()


def _cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) process ``pid`` has used, or None where /proc cannot say."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None
