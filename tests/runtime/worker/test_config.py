"""What the engine hands each agent's workers: the concurrency a replica runs at comes from the
agent's ``limits.max_concurrent_tasks`` (64 by default), per replica, and a change to it rolls
the workers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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


TEAM: dict[str, dict[str, Any]] = {
    "model.lead-model": {"provider": "scripted", "script": "lead.yaml", "fallback": ["spare"]},
    "model.spare": {"provider": "scripted", "script": "spare.yaml"},
    "model.helper-model": {"provider": "scripted", "script": "helper.yaml"},
    "agent.lead": {"model": "lead-model", "delegates": ["helper"]},
    "agent.helper": {"model": "helper-model", "description": "Helps.", "instructions": "Help."},
}


def _hashes(**changes: dict[str, Any]) -> dict[str, str]:
    resources = {
        a: {**v, **changes.get(a.replace(".", "_").replace("-", "_"), {})} for a, v in TEAM.items()
    }
    configs = agent_configs(
        resources,
        project="p",
        base_dir=Path("/tmp"),
        bus_url="nats://127.0.0.1:4222",
        store_url="sqlite:////tmp/rt.db",
        layout=BusLayout("p"),
    )
    return {name: config.config_hash for name, (config, _) in configs.items()}


@pytest.mark.parametrize(
    ("change", "rolled"),
    [
        ({"agent_helper": {"instructions": "Help more."}}, {"helper"}),
        ({"model_helper_model": {"timeout": "7s"}}, {"helper"}),
        ({"model_spare": {"timeout": "7s"}}, {"lead"}),  # the lead's fallback
        ({"model_lead_model": {"timeout": "7s"}}, {"lead"}),
        ({"agent_helper": {"description": "Helps a lot."}}, {"lead", "helper"}),  # offered
        ({"agent_lead": {"instructions": "Lead."}}, {"lead"}),
    ],
    ids=[
        "delegate-instructions",
        "delegate-model",
        "own-fallback",
        "own-model",
        "delegate-description",
        "own-instructions",
    ],
)
def test_an_agent_rolls_only_when_what_its_workers_use_changes(
    change: dict[str, dict[str, Any]], rolled: set[str]
) -> None:
    before, after = _hashes(), _hashes(**change)
    assert {name for name in before if before[name] != after[name]} == rolled


def test_a_worker_receives_its_model_and_that_model_s_fallbacks_only() -> None:
    configs = agent_configs(
        {a: dict(v) for a, v in TEAM.items()},
        project="p",
        base_dir=Path("/tmp"),
        bus_url="nats://127.0.0.1:4222",
        store_url="sqlite:////tmp/rt.db",
        layout=BusLayout("p"),
    )
    assert list(configs["lead"][0].models) == ["lead-model", "spare"]
    assert list(configs["helper"][0].models) == ["helper-model"]
    assert configs["lead"][0].delegates == {"helper": "Helps."}
