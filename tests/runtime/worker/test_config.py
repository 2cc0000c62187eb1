"""What the engine hands each agent's workers: the concurrency a replica runs at comes from the
agent's ``limits.max_concurrent_tasks`` (64 by default), per replica, and a change to it rolls
the workers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentform.runtime.bus import BusLayout
from agentform.runtime.worker.config import (
    DEFAULT_CONCURRENCY,
    WorkerConfig,
    agent_configs,
)


def _configs(
    limits: dict[str, Any], plain_replicas: int = 1
) -> dict[str, tuple[WorkerConfig, int]]:
    resources = {
        "model.fast": {"provider": "scripted", "script": "rules.yaml"},
        "agent.busy": {"model": "fast", "replicas": 2, "limits": limits},
        "agent.plain": {"model": "fast", "replicas": plain_replicas},
    }
    return agent_configs(
        resources,
        project="p",
        base_dir=Path("/tmp"),
        bus_url="nats://127.0.0.1:4222",
        store_url="sqlite:////tmp/rt.db",
        layout=BusLayout("p"),
    )


def test_concurrency_comes_from_the_agent_limits() -> None:
    configs = _configs({"max_concurrent_tasks": 32})
    busy, replicas = configs["busy"]
    assert (busy.concurrency, replicas) == (32, 2)
    assert configs["plain"][0].concurrency == DEFAULT_CONCURRENCY == 64
    # it travels to the worker process with the rest of its configuration
    assert WorkerConfig.from_json(busy.to_json()).concurrency == 32


def test_the_default_and_a_limit_are_per_replica() -> None:
    # replicas add capacity: every replica takes the default, or the limit the spec sets
    for replicas in (1, 2, 4, 10):
        config, count = _configs({}, plain_replicas=replicas)["plain"]
        assert (config.concurrency, count) == (DEFAULT_CONCURRENCY, replicas)
    busy, count = _configs({"max_concurrent_tasks": 50})["busy"]
    assert (busy.concurrency, count) == (50, 2)


def test_changing_it_changes_the_configuration_hash() -> None:
    before = _configs({"max_concurrent_tasks": 4})["busy"][0].config_hash
    after = _configs({"max_concurrent_tasks": 8})["busy"][0].config_hash
    assert before != after
