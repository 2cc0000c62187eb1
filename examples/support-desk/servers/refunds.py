"""Refunds MCP server for the support-desk example: issue a refund against an order.

A stdio MCP server built on the official ``mcp`` SDK, standing in for the billing system's real
refunds endpoint (which the ``prod`` environment of the spec points at instead). Orders and
refunds are kept in memory, so the example runs offline and starts clean every time.

Refunds move money, so the call is guarded twice: the spec declares the tool
``side_effects: unsafe`` and puts large refunds behind an approval policy, and the server
de-duplicates calls by ``idempotency_key``: repeating a call with the same key returns the first
refund instead of paying twice. That de-duplication lives in this process's memory and is lost on
restart, which is exactly why agentform must never silently repeat a call whose outcome it does
not know. With ``REFUNDS_LEDGER`` set, every refund paid out is also appended to that file.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import asdict, dataclass

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

# order id -> (amount paid, currency)
ORDERS: dict[str, tuple[float, str]] = {
    "A-1001": (249.00, "EUR"),
    "A-1002": (42.50, "EUR"),
    "A-1003": (1299.00, "EUR"),
    "B-2001": (89.90, "USD"),
}


@dataclass(frozen=True)
class Refund:
    refund_id: str
    order_id: str
    amount: float
    currency: str
    reason: str
    status: str = "refunded"


_refunds: dict[str, Refund] = {}  # idempotency key -> the refund it produced
_ids = itertools.count(1)

mcp = MCPServer(
    "acme-refunds",
    instructions="Issue refunds for Acme Robotics orders. Always pass an idempotency_key.",
)


def _refunded(order_id: str) -> float:
    return sum(r.amount for r in _refunds.values() if r.order_id == order_id)


@mcp.tool(annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=True))
def issue_refund(
    order_id: str, amount: float, idempotency_key: str, reason: str = ""
) -> dict[str, object]:
    """Refund part or all of an order to the original payment method.

    Args:
        order_id: The order to refund, e.g. A-1001.
        amount: How much to refund, in the order's currency; at most what is left to refund.
        idempotency_key: A key unique to this refund; retrying with the same key returns the
            original refund instead of refunding again.
        reason: Why the refund is issued, for the customer's record.
    """
    previous = _refunds.get(idempotency_key)
    if previous is not None:
        if (previous.order_id, previous.amount) != (order_id, round(amount, 2)):
            raise ToolError(
                f"idempotency key {idempotency_key!r} was already used for a different refund "
                f"({previous.order_id}, {previous.amount}); use a new key for a new refund"
            )
        return {**asdict(previous), "duplicate": True}
    if order_id not in ORDERS:
        raise ToolError(f"unknown order {order_id!r}; check the order id with the customer")
    paid, currency = ORDERS[order_id]
    amount = round(amount, 2)
    left = round(paid - _refunded(order_id), 2)
    if amount <= 0:
        raise ToolError("amount must be greater than zero")
    if amount > left:
        raise ToolError(f"order {order_id} has only {left} {currency} left to refund")
    refund = Refund(f"rf-{next(_ids):05d}", order_id, amount, currency, reason)
    _refunds[idempotency_key] = refund
    ledger = os.environ.get("REFUNDS_LEDGER")
    if ledger:  # every refund paid out, one JSON line each: what an auditor would reconcile
        with open(ledger, "a", encoding="utf-8") as out:
            out.write(json.dumps({**asdict(refund), "idempotency_key": idempotency_key}) + "\n")
    return {**asdict(refund), "duplicate": False}


if __name__ == "__main__":
    mcp.run()
