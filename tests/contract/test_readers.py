"""Every field of the contract has a reader: declared means enforced.

For each field of each value the runtime receives (:data:`agentform.contract.KINDS`, nested
models included), the table below names the runtime module that acts on it, or says why the field
is planning-only. A field in neither, and not in :data:`agentform.contract.unenforced.UNENFORCED`
(the settings the runtime ignores today, on which ``agentform validate`` warns), fails: adding a
spec field without the runtime code that reads it is caught here. A reader named for a field must
really mention it (``.name``, ``"name"`` or ``'name'``), so the table cannot drift from the code.
"""

from __future__ import annotations

import fnmatch
import re
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from agentform.addresses import SECTION_OF_KIND
from agentform.contract import KINDS
from agentform.contract.unenforced import UNENFORCED

RUNTIME = Path(__file__).resolve().parents[2] / "agentform" / "runtime"

# field -> the runtime module (under agentform/runtime) that acts on it
READERS: dict[str, str] = {
    "agent.description": "worker/config.py",  # offered to delegators' models
    "agent.model": "worker/process.py",
    "agent.instructions": "worker/process.py",
    "agent.tools": "worker/config.py",
    "agent.memory": "worker/config.py",
    "agent.delegates": "worker/config.py",
    "agent.delegate_descriptions": "worker/config.py",
    "agent.replicas": "worker/config.py",
    "agent.limits": "worker/process.py",
    "agent.limits.max_steps": "worker/progress.py",
    "agent.limits.max_tool_calls": "worker/progress.py",
    "agent.limits.max_tokens": "worker/progress.py",
    "agent.limits.max_cost_usd": "worker/progress.py",
    "agent.limits.timeout": "worker/progress.py",
    "agent.limits.max_depth": "worker/delegation.py",
    "agent.limits.max_concurrent_tasks": "worker/config.py",
    "agent.skills": "a2a/card.py",
    "agent.skills.id": "a2a/card.py",
    "agent.skills.name": "a2a/card.py",
    "agent.skills.description": "a2a/card.py",
    "agent.skills.tags": "a2a/card.py",
    "agent.skills.examples": "a2a/card.py",
    "agent.concurrent_messages": "worker/turns.py",
    "agent.default_effect": "worker/process.py",
    "agent.ask_user": "worker/process.py",
    # circuit breakers: decided by policy/breaker.py, acted on by the loop (worker/guards.py)
    "agent.circuit_breaker": "worker/process.py",
    "agent.circuit_breaker.max_identical_calls": "policy/breaker.py",
    "agent.circuit_breaker.max_repeated_sequence": "policy/breaker.py",
    "agent.circuit_breaker.max_ping_pong": "policy/breaker.py",
    "agent.circuit_breaker.max_calls_per_minute": "policy/breaker.py",
    "agent.circuit_breaker.cooldown": "policy/breaker.py",
    "agent.circuit_breaker.on_trip": "policy/breaker.py",  # and worker/process.py (fallback)
    # the project's top-level limits, resolved onto every agent: budgets across tasks
    # (policy/budgets.py, checked by the loop and by the engine's admission) and ceilings
    "agent.budgets": "worker/process.py",
    "agent.budgets.window": "policy/budgets.py",
    "agent.budgets.project": "policy/budgets.py",
    "agent.budgets.per_caller": "policy/budgets.py",
    "agent.budgets.project.max_steps": "policy/budgets.py",
    "agent.budgets.project.max_tool_calls": "policy/budgets.py",
    "agent.budgets.project.max_tokens": "policy/budgets.py",
    "agent.budgets.project.max_cost_usd": "policy/budgets.py",
    "agent.budgets.per_caller.max_steps": "policy/budgets.py",
    "agent.budgets.per_caller.max_tool_calls": "policy/budgets.py",
    "agent.budgets.per_caller.max_tokens": "policy/budgets.py",
    "agent.budgets.per_caller.max_cost_usd": "policy/budgets.py",
    "agent.budgets.timeout": "worker/progress.py",
    "agent.budgets.max_depth": "worker/delegation.py",
    "agent.rate_limit": "host/admission.py",  # and the worker, for tasks from the bus
    "agent.rate_limit.per_caller": "host/admission.py",
    "agent.rate_limit.total": "host/admission.py",  # the loop offers ASK_USER (worker/loop.py)
    "agent.invokers": "a2a/host.py",
    "agent.cancelers": "a2a/handler.py",  # and the gate (a2a/auth.py)
    "agent.readers": "a2a/handler.py",  # handed to the A2A gate (a2a/auth.py) per request
    # the names the worker resolves for the model and masks in its records
    "agent.sensitive": "worker/sensitive.py",
    "model.provider": "models/config.py",
    "model.model": "models/config.py",
    "model.base_url": "models/config.py",
    "model.api_key": "models/config.py",
    "model.script": "models/config.py",
    "model.temperature": "models/config.py",
    "model.max_tokens": "models/config.py",
    "model.timeout": "models/config.py",
    "model.max_retries": "models/config.py",
    "model.limits": "models/config.py",
    "model.limits.requests_per_minute": "models/config.py",
    "model.limits.tokens_per_minute": "models/config.py",
    "model.limits.max_concurrency": "models/config.py",
    "model.pricing": "models/config.py",
    "model.pricing.input_per_mtok": "models/config.py",
    "model.pricing.output_per_mtok": "models/config.py",
    "model.fallback": "models/config.py",
    "tool.description": "tools/toolbox.py",
    "tool.mcp": "tools/toolbox.py",
    "tool.mcp.command": "tools/mcp_client.py",
    "tool.mcp.env": "tools/mcp_client.py",
    "tool.mcp.cwd": "tools/mcp_client.py",
    "tool.mcp.url": "tools/mcp_client.py",
    "tool.mcp.headers": "tools/mcp_client.py",
    "tool.a2a": "tools/toolbox.py",
    "tool.a2a.url": "tools/remote_agent.py",
    "tool.a2a.headers": "tools/remote_agent.py",
    "tool.side_effects": "tools/toolbox.py",
    "tool.on_unknown_outcome": "worker/process.py",  # the loop asks a human (policy/holding.py)
    "tool.timeout": "tools/toolbox.py",
    "tool.expose": "tools/toolbox.py",
    "tool.lock": "tools/locking.py",
    "tool.sensitive": "worker/sensitive.py",  # resolved in mcp env/headers, a2a headers
    "memory.kind": "store/memory/config.py",
    "memory.scope": "store/memory/config.py",
    "memory.scope_from": "store/memory/config.py",
    "memory.ttl": "store/memory/config.py",
    "memory.retention": "store/memory/config.py",
    "memory.redact": "store/memory/config.py",
    "memory.redact.name": "store/memory/redact.py",
    "memory.redact.pattern": "store/memory/redact.py",
    "memory.redact.replacement": "store/memory/redact.py",
    "memory.limits": "store/memory/config.py",
    "memory.limits.max_item_bytes": "store/memory/config.py",
    "memory.limits.max_scope_bytes": "store/memory/config.py",
    "memory.limits.max_scope_items": "store/memory/config.py",
    "memory.limits.on_full": "store/memory/config.py",
    "memory.access": "store/memory/config.py",
    "memory.access.read": "store/memory/config.py",
    "memory.access.write": "store/memory/config.py",
    "memory.context": "store/memory/config.py",
    "memory.context.max_tokens": "store/memory/config.py",
    "memory.context.strategy": "store/memory/config.py",
    "memory.inject": "store/memory/config.py",
    "memory.search": "store/memory/config.py",
    "policy.agents": "policy/decision.py",
    "policy.tools": "policy/decision.py",
    "policy.effect": "policy/decision.py",
    "policy.when": "policy/decision.py",
    "policy.approvers": "policy/decision.py",  # recorded on the approval request
    "policy.approval_timeout": "policy/decision.py",
    "policy.deciders": "host/callers.py",  # who may decide a held call (A2A, control API)
    "filter.detect": "policy/filters.py",
    "filter.patterns": "policy/filters.py",
    "filter.patterns.name": "policy/filters.py",
    "filter.patterns.pattern": "policy/filters.py",
    "filter.patterns.replacement": "policy/filters.py",
    "filter.action": "policy/filters.py",
    "filter.apply_to": "policy/filters.py",
    "agent.filters": "worker/process.py",  # and the engine, on input (host/screening.py)
    "runtime.bus.url": "host/bus_link.py",
    "runtime.bus.stream_prefix": "host/bus_link.py",  # subjects and JetStream names (BusLayout)
    "runtime.store.url": "host/engine_store.py",
    "runtime.store.grants": "host/callers.py",  # admin:*, read:tasks, read:traces on the API
    "runtime.store.audit_retention": "host/retention.py",  # runtime.audit.retention: pruning
    "runtime.store.task_retention": "host/retention.py",  # runtime.tasks.retention
    # schedules: APScheduler's jobs (their triggers from agentform/triggers.py) fire them, the
    # engine holding the scheduler lease submits their tasks
    "schedule.agent": "scheduler/schedules.py",
    "schedule.input": "scheduler/schedules.py",
    "schedule.cron": "scheduler/jobs.py",
    "schedule.interval": "scheduler/jobs.py",
    "schedule.timezone": "scheduler/jobs.py",
    "schedule.enabled": "scheduler/jobs.py",
    "schedule.catch_up": "scheduler/jobs.py",
}

# field -> why no runtime code needs to read it
PLANNING_ONLY: dict[str, str] = {
    "agent.policies": "dependency edges for the plan; the policies themselves are unenforced",
    "memory.description": "documentation, shown in plans and `agentform memory` only",
    "policy.description": "documentation, shown in plans only",
    "filter.description": "documentation, shown in plans only",
    "filter.secrets": "secret fingerprints: plan-time change detection",
    "policy.secrets": "secret fingerprints: plan-time change detection",
    # fingerprints make a rotated secret or a changed outside card a change in the plan; the
    # values themselves reach the engine beside the resource, never in it
    "agent.secrets": "secret fingerprints: plan-time change detection",
    "model.secrets": "secret fingerprints: plan-time change detection",
    "tool.secrets": "secret fingerprints: plan-time change detection",
    "memory.secrets": "secret fingerprints: plan-time change detection",
    "runtime.bus.secrets": "secret fingerprints: plan-time change detection",
    "runtime.store.secrets": "secret fingerprints: plan-time change detection",
    "tool.card": "an outside agent's card digest: plan-time change detection",
    # an edited rule file or server code is a change in the plan, and the workers' config hash
    # (which covers their models' and tools' values) rolls them
    "model.files": "content digests of the script: plan-time change detection",
    "tool.files": "content digests of the MCP server's code: plan-time change detection",
    "schedule.secrets": "secret fingerprints: plan-time change detection",
}


def _fields(cls: type[BaseModel], prefix: str) -> Iterator[str]:
    for name, info in cls.model_fields.items():
        path = f"{prefix}.{name}"
        yield path
        for arg in (info.annotation, *typing.get_args(info.annotation)):
            for inner in (arg, *typing.get_args(arg)):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    yield from _fields(inner, path)


def contract_fields() -> list[str]:
    return sorted({f for kind, cls in KINDS.items() for f in _fields(cls, kind)})


def spec_path(field: str) -> str:
    """``agent.limits.timeout`` -> ``agents.*.limits.timeout`` (the UNENFORCED spelling)."""
    if field.startswith("runtime."):
        return field
    kind, _, rest = field.partition(".")
    return f"{SECTION_OF_KIND[kind]}.*.{rest}"


def unenforced_entries(field: str) -> list[typing.Any]:
    path = spec_path(field).split(".")
    return [
        entry
        for entry in UNENFORCED
        if any(
            fnmatch.fnmatchcase(".".join(path[:n]), entry.field) for n in range(1, len(path) + 1)
        )
    ]


def unenforced(field: str) -> bool:
    return bool(unenforced_entries(field))


@pytest.mark.parametrize("field", contract_fields())
def test_every_contract_field_is_read_or_explained(field: str) -> None:
    places = [field in READERS, field in PLANNING_ONLY, unenforced(field)]
    assert any(places), (
        f"{field} is declared in the contract but nothing reads it: name its reader in READERS,"
        " say why it is planning-only, or list it in agentform/contract/unenforced.py so"
        " validate warns"
    )
    # a field may be read and still have uses that are not enforced (an entry with a ``when``:
    # policies are enforced, except require_approval): then it is in both tables
    partial = all(entry.when for entry in unenforced_entries(field))
    if not (partial and places[0]):
        assert places.count(True) == 1, f"{field} is classified more than once: {places}"


@pytest.mark.parametrize("field", sorted(READERS))
def test_a_named_reader_mentions_its_field(field: str) -> None:
    source = (RUNTIME / READERS[field]).read_text()
    name = field.rsplit(".", 1)[1]
    assert re.search(rf"\.{name}\b|[\"']{name}[\"']", source), (
        f"{READERS[field]} is named as the reader of {field} but never mentions {name!r}"
    )


def test_the_tables_name_only_contract_fields() -> None:
    fields = set(contract_fields())
    assert not set(READERS) - fields
    assert not set(PLANNING_ONLY) - fields


def test_todays_unenforced_fields_are_listed() -> None:
    """What milestone 2's later steps had to empty: circuit breakers and schedules are enforced
    (target.config is a spec section the runtime never receives; validate warns on it all the
    same)."""
    listed = sorted(f for f in contract_fields() if unenforced(f))
    assert not [f for f in listed if f.startswith("agent.circuit_breaker")]  # enforced
    assert not [f for f in listed if f.startswith("schedule.")]  # fired by the engine
    assert "runtime.bus.stream_prefix" not in listed  # names every JetStream object now
    # every policy field is read now: nothing of policies is listed
    assert not [f for f in listed if f.startswith("policy.")]
