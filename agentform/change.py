"""One address's change: what apply does to it (:class:`Action`) and why (:class:`Change`).

This module owns :class:`Action`, which knows its symbol (``+ ~ -/+ -``), and :class:`Change`
(one address: action, before/after values, changed fields, reasons, risks, the provider id and
the other changes it waits for). They are the vocabulary shared by the diff that makes them
(:mod:`agentform.diff`), the plan that orders them (:mod:`agentform.plan`, which re-exports
both), apply that carries them out, and the renderers. Pure: no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentform.addresses import Address
from agentform.risks import Risk

__all__ = ["Action", "Change", "Values"]

Values = Mapping[str, Any]


class Action(enum.Enum):
    """What apply does to one address; ``.symbol`` is how a plan shows it."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    NOOP = "no-op"

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]


_SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "-/+",
    Action.DELETE: "-",
    Action.NOOP: " ",
}


@dataclass(frozen=True, slots=True)
class Change:
    """One address: the action, the values before and after, and why.

    ``before`` is what is there now (observed when the plan refreshed, else recorded), ``after``
    the desired values; ``id`` the provider id recorded in state. ``waits_for`` names the other
    changes of the plan that must succeed before this one starts.
    """

    address: str
    action: Action
    before: Values | None
    after: Values | None
    changed: tuple[str, ...] = ()
    replace_fields: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    risks: tuple[Risk, ...] = ()
    id: str | None = None
    waits_for: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return Address.kind_of(self.address)
