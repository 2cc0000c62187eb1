"""What a worker runs with: the configuration the engine renders for one agent's workers.

:class:`WorkerConfig` holds plain values only (the agent, the models and tools it uses, where
the bus and the store are, its delegates) and crosses the process boundary as JSON: the engine
(:mod:`agentform.runtime.host.engine`) writes it, the supervisor hands its path to each worker
process, and :mod:`agentform.runtime.worker.process` reads it. Its hash names the configuration, so
a change rolls the workers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentform.runtime.bus import BusLayout

__all__ = ["DEFAULT_CONCURRENCY", "WorkerConfig", "agent_configs", "config_hash"]

# tasks one replica works on at once unless the agent's limits.max_concurrent_tasks says: agent
# tasks mostly wait for models and tools, and the tasks a worker takes together share the store's
# transactions (group commit), so a few are too few. Per replica: adding replicas adds capacity.
# (An agent-wide 64 split across replicas was tried: four replicas of 16 each did better only
# while fewer tasks were waiting than they had slots; with more waiting, four of 64 ran
# 3,450-4,090 tasks/s against 2,910-3,260 in benchmarks/bench_runtime.py.)
DEFAULT_CONCURRENCY = 64


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """Everything a worker needs, written by the engine as JSON (plain values only)."""

    project: str
    agent: str
    base_dir: str
    bus_url: str
    layout: BusLayout
    store_url: str
    agent_values: Mapping[str, Any]
    models: Mapping[str, Mapping[str, Any]]
    tools: Mapping[str, Mapping[str, Any]]
    config_hash: str
    concurrency: int = DEFAULT_CONCURRENCY
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "agent": self.agent,
            "base_dir": self.base_dir,
            "bus_url": self.bus_url,
            "layout": self.layout.to_dict(),
            "store_url": self.store_url,
            "agent_values": dict(self.agent_values),
            "models": {k: dict(v) for k, v in self.models.items()},
            "tools": {k: dict(v) for k, v in self.tools.items()},
            "config_hash": self.config_hash,
            "concurrency": self.concurrency,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkerConfig:
        return cls(
            project=str(data["project"]),
            agent=str(data["agent"]),
            base_dir=str(data["base_dir"]),
            bus_url=str(data["bus_url"]),
            layout=BusLayout.from_dict(data["layout"]),
            store_url=str(data["store_url"]),
            agent_values=dict(data["agent_values"]),
            models=dict(data["models"]),
            tools=dict(data["tools"]),
            config_hash=str(data["config_hash"]),
            concurrency=int(data.get("concurrency", DEFAULT_CONCURRENCY)),
            extra=dict(data.get("extra") or {}),
        )


def config_hash(values: Mapping[str, Any]) -> str:
    """The name of a configuration: a change to any value rolls the agent's workers."""
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def _named(resources: Mapping[str, Mapping[str, Any]], kind: str) -> dict[str, Mapping[str, Any]]:
    prefix = f"{kind}."
    return {a[len(prefix) :]: v for a, v in resources.items() if a.startswith(prefix)}


def agent_configs(
    resources: Mapping[str, Mapping[str, Any]],
    *,
    project: str,
    base_dir: Path,
    bus_url: str,
    store_url: str,
    layout: BusLayout,
) -> dict[str, tuple[WorkerConfig, int]]:
    """Every registered agent's worker configuration and replica count, from the registered
    resources: the agent, the models (all of them: fallbacks), its tools, its memory stores, its
    delegates (declared ones, registered yet or not: apply creates agents in any order). The
    configuration's hash covers all of it, so a change to any rolls the agent's workers."""
    models, tools = _named(resources, "model"), _named(resources, "tool")
    memories, agents = _named(resources, "memory"), _named(resources, "agent")
    out: dict[str, tuple[WorkerConfig, int]] = {}
    for name, values in agents.items():
        replicas = int(values.get("replicas", 1))
        mine = {t: tools[t] for t in values.get("tools") or [] if t in tools}
        stores = {m: memories[m] for m in values.get("memory") or [] if m in memories}
        delegates = {
            d: {"description": str(agents.get(d, {}).get("description") or "")}
            for d in values.get("delegates") or []
        }
        body = {
            "agent": values,
            "models": models,
            "tools": mine,
            "bus": bus_url,
            "store": store_url,
            "layout": layout.to_dict(),
            "delegates": delegates,
            "memory": stores,
        }
        config = WorkerConfig(
            project=project,
            agent=name,
            base_dir=str(base_dir),
            bus_url=bus_url,
            layout=layout,
            store_url=store_url,
            agent_values=values,
            models=models,
            tools=mine,
            config_hash=config_hash(body),
            extra={"delegates": delegates, "memory": stores},
            concurrency=int(
                (values.get("limits") or {}).get("max_concurrent_tasks") or DEFAULT_CONCURRENCY
            ),
        )
        out[name] = (config, replicas)
    return out
