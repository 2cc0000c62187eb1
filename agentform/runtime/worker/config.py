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
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from agentform.contract import (
    AgentValue,
    FilterValue,
    MemoryValue,
    ModelValue,
    PolicyValue,
    ToolValue,
    received,
)
from agentform.runtime.bus import BusLayout

T = TypeVar("T")

__all__ = ["DEFAULT_CONCURRENCY", "WorkerConfig", "agent_configs", "config_hash"]

# tasks one replica works on at once unless the agent's limits.max_concurrent_tasks says: agent
# tasks mostly wait for models and tools, and the tasks a worker takes together share the store's
# transactions (group commit), so a few are too few. Per replica: adding replicas adds capacity.
# (An agent-wide 64 split across replicas was tried: four replicas of 16 each did better only
# while fewer tasks were waiting than they had slots; with more waiting, four of 64 ran
# 3,450-4,090 tasks/s against 2,910-3,260 in benchmarks/bench_runtime.py.)
DEFAULT_CONCURRENCY = 64


class WorkerConfig(BaseModel):
    """Everything a worker needs, written by the engine as JSON and read back typed: the agent,
    its model and that model's fallback chain, its tools and memory stores are the contract's values
    (:mod:`agentform.contract`), so the worker reads attributes, never dict keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    project: str
    agent: str
    base_dir: str
    bus_url: str
    layout: BusLayout
    store_url: str
    values: AgentValue
    models: dict[str, ModelValue]
    tools: dict[str, ToolValue] = Field(default_factory=dict)
    memory: dict[str, MemoryValue] = Field(default_factory=dict)
    policies: dict[str, PolicyValue] = Field(
        default_factory=dict, description="The policies that govern the agent, by name."
    )
    delegates: dict[str, str] = Field(
        default_factory=dict, description="Each delegate's description, offered to the model."
    )
    filters: dict[str, FilterValue] = Field(
        default_factory=dict, description="The content filters the agent lists, by name."
    )
    config_hash: str
    concurrency: int = DEFAULT_CONCURRENCY

    def to_json(self) -> str:
        return self.model_dump_json(indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> WorkerConfig:
        return cls.model_validate_json(text)


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
    resources: the agent, its model with that model's fallbacks, its tools, its memory stores, the
    content filters it lists, its delegates' descriptions (as planning resolved them onto the
    agent, so the order apply registers agents in does not matter). Only what its workers use:
    the configuration's hash covers all of it and nothing else, so a change to any rolls the
    agent's workers, and a change to another agent (a delegate's instructions, model or tools)
    does not."""
    models = {n: _typed(ModelValue, f"model.{n}", v) for n, v in _named(resources, "model").items()}
    tools = {n: _typed(ToolValue, f"tool.{n}", v) for n, v in _named(resources, "tool").items()}
    memories = {
        n: _typed(MemoryValue, f"memory.{n}", v) for n, v in _named(resources, "memory").items()
    }
    policies = {
        n: _typed(PolicyValue, f"policy.{n}", v) for n, v in _named(resources, "policy").items()
    }
    filters = {
        n: _typed(FilterValue, f"filter.{n}", v) for n, v in _named(resources, "filter").items()
    }
    raw_agents = _named(resources, "agent")
    agents = {n: _typed(AgentValue, f"agent.{n}", v) for n, v in raw_agents.items()}
    out: dict[str, tuple[WorkerConfig, int]] = {}
    for name, agent in agents.items():
        mine = {t: tools[t] for t in agent.tools if t in tools}
        stores = {m: memories[m] for m in agent.memory if m in memories}
        governing = {p: policies[p] for p in agent.policies if p in policies}
        screening = {f: filters[f] for f in agent.filters if f in filters}
        chain = {m: models[m] for m in _model_chain(agent.model, models)}
        # of a delegate, only what the model is offered: its description, as planning resolved
        # it (values applied before planning did: as the delegate registered says)
        described = agent.delegate_descriptions
        delegates = {
            d: described[d] if d in described else agents[d].description if d in agents else ""
            for d in agent.delegates
        }
        body = {
            "agent": raw_agents[name],
            "models": {n: v.model_dump(mode="json") for n, v in chain.items()},
            "tools": {n: v.model_dump(mode="json") for n, v in mine.items()},
            "bus": bus_url,
            "store": store_url,
            "layout": layout.to_dict(),
            "delegates": delegates,
            "memory": {n: v.model_dump(mode="json") for n, v in stores.items()},
            "policies": {n: v.model_dump(mode="json") for n, v in governing.items()},
        }
        if screening:  # only then: the agents without filters keep the hash (and workers) they had
            body["filters"] = {n: v.model_dump(mode="json") for n, v in screening.items()}
        config = WorkerConfig(
            project=project,
            agent=name,
            base_dir=str(base_dir),
            bus_url=bus_url,
            layout=layout,
            store_url=store_url,
            values=agent,
            models=chain,
            tools=mine,
            memory=stores,
            policies=governing,
            delegates=delegates,
            filters=screening,
            config_hash=config_hash(body),
            concurrency=agent.limits.max_concurrent_tasks or DEFAULT_CONCURRENCY,
        )
        out[name] = (config, agent.replicas)
    return out


def _model_chain(name: str, models: Mapping[str, ModelValue]) -> list[str]:
    """``name`` and the models it falls back to, transitively, each once (the ones registered:
    a missing one is the worker's error to report, as it was before)."""
    chain: list[str] = []
    pending = [name]
    while pending:
        current = pending.pop()
        if current in chain or current not in models:
            continue
        chain.append(current)
        pending.extend(reversed(models[current].fallback))
    return chain


def _typed(kind: type[T], address: str, values: Mapping[str, Any]) -> T:
    found = received(address, values)
    assert isinstance(found, kind)
    return found
