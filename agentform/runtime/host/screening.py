"""A task's input screened by its agent's content filters before the engine keeps it anywhere.

The engine records a task sent through its control API or an agent's A2A server in the runtime
store, then publishes it on the bus: whatever a ``block`` or ``redact`` filter on the agent's
``input`` would remove must reach neither. :func:`screen_input` applies those filters (the
worker applies ``flag`` ones, and every filter to the tasks it is handed by other ways:
:mod:`agentform.runtime.worker.loop`); the engine records the task with the text they leave and
their hits (audited with ``task.submitted``, in one transaction), and :func:`reject` ends a task
a filter blocked as ``rejected``, saying which filter and what it found, so it never runs.
Called by :mod:`agentform.runtime.host.engine` for each submitted task.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentform.contract import AgentValue, FilterValue, received
from agentform.runtime.errors import EngineError
from agentform.runtime.policy.filters import ContentFilters, Screened
from agentform.runtime.store import RuntimeStore, TaskRecord, TaskStatus

__all__ = ["reject", "screen_input"]

# the filters of an agent, compiled, with the values they were compiled from (kept alive, so
# their ids, which key the cache, cannot be reused)
_compiled: dict[str, tuple[tuple[Any, ...], ContentFilters]] = {}


def screen_input(
    resources: Mapping[str, Mapping[str, Any]], agent: AgentValue | None, name: str, text: str
) -> Screened | None:
    """``text`` as the ``block`` and ``redact`` filters on agent ``name``'s input leave it, with
    their hits; None when the agent has none."""
    if agent is None or not agent.filters:
        return None
    filters = _filters(resources, agent, name)
    if not filters.applies("input"):
        return None
    return filters.screen("input", text, actions=("block", "redact"))


def _filters(
    resources: Mapping[str, Mapping[str, Any]], agent: AgentValue, name: str
) -> ContentFilters:
    used = tuple(resources.get(f"filter.{f}") for f in agent.filters)
    key = (agent, *used)
    cached = _compiled.get(name)
    if (
        cached is not None
        and len(cached[0]) == len(key)
        and all(a is b for a, b in zip(cached[0], key, strict=True))
    ):
        return cached[1]
    values: dict[str, FilterValue] = {}
    for f, found in zip(agent.filters, used, strict=True):
        if found is not None:
            value = received(f"filter.{f}", found)
            assert isinstance(value, FilterValue)
            values[f] = value
    try:
        filters = ContentFilters.of(agent.filters, values)
    except LookupError as exc:  # never kept unscreened: refused until apply registers it
        raise EngineError(f"agent {name!r}: {exc}", 503) from None
    _compiled[name] = (key, filters)
    return filters


async def reject(store: RuntimeStore, task: TaskRecord, screened: Screened) -> TaskRecord:
    """End ``task`` (just recorded) as ``rejected``, because a filter blocked its input."""
    await store.run(store.finish_task, task.id, TaskStatus.REJECTED, error=screened.refusal())
    return await store.run(store.get_task, task.id) or task
