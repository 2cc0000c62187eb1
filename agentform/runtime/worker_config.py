"""What a worker runs with: the configuration the engine renders for one agent's workers.

:class:`WorkerConfig` holds plain values only (the agent, the models and tools it uses, where
the bus and the store are, its delegates) and crosses the process boundary as JSON: the engine
(:mod:`agentform.runtime.engine`) writes it, the supervisor hands its path to each worker
process, and :mod:`agentform.runtime.worker` reads it. Its hash names the configuration, so a
change rolls the workers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentform.runtime.bus import BusLayout

__all__ = ["WorkerConfig"]


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
    concurrency: int = 4
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
            concurrency=int(data.get("concurrency", 4)),
            extra=dict(data.get("extra") or {}),
        )
