"""The contract across the process boundary: typed values the runtime receives from planning.

Planning builds one frozen value per resource kind from the spec (:mod:`.values`, the same classes
the spec is made of, with what planning resolved: :mod:`.received`) and sends it as JSON; the
runtime reads it back as the same typed object with :func:`received`, so no runtime module parses
a resource by hand and every default is written once. :class:`~agentform.addresses.Address`
names resources; :mod:`.unenforced` lists the declared settings the runtime does not act on yet
(``agentform validate`` warns where a spec uses one). Nothing here imports the spec, the runtime
or the CLI.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from agentform.addresses import Address
from agentform.contract.received import (
    AgentValue,
    BusValue,
    FilterValue,
    MemoryValue,
    ModelValue,
    PolicyValue,
    ScheduleValue,
    StoreValue,
    ToolValue,
)
from agentform.contract.values import Frozen

__all__ = [
    "KINDS",
    "Address",
    "AgentValue",
    "BusValue",
    "ContractError",
    "FilterValue",
    "MemoryValue",
    "ModelValue",
    "PolicyValue",
    "ScheduleValue",
    "StoreValue",
    "ToolValue",
    "received",
]

# every resource address planning can send, by kind (``runtime.*`` by the whole address)
KINDS: dict[str, type[Frozen]] = {
    "agent": AgentValue,
    "model": ModelValue,
    "tool": ToolValue,
    "memory": MemoryValue,
    "policy": PolicyValue,
    "filter": FilterValue,
    "schedule": ScheduleValue,
    "runtime.bus": BusValue,
    "runtime.store": StoreValue,
}


class ContractError(ValueError):
    """Values that are not what the contract says a resource of their kind is."""


def received(address: str, values: Mapping[str, Any]) -> Frozen:
    """The typed value of resource ``address`` from its JSON values; ContractError naming the
    address and the first field that is wrong (a planner of another version, a hand-edited
    file)."""
    parsed = Address.parse(address)
    kind = KINDS.get(address) or KINDS.get(parsed.kind)
    if kind is None:
        raise ContractError(f"{address}: no resource kind {parsed.kind!r} in this version")
    try:
        return kind.model_validate(values, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(values)"
        raise ContractError(
            f"{address}: {where}: {first['msg']}; plan and apply again with this version"
        ) from None
