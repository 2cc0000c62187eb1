"""Ticket-metrics MCP server for the scheduled-report example: read-only support statistics.

A stdio MCP server built on the official ``mcp`` SDK, standing in for a help-desk system's
reporting API. The numbers are **synthetic but deterministic**: each day's tickets are derived
from the date, so the same week always gives the same report, any week has data, and the example
runs offline. Every tool is read-only (the spec declares ``side_effects: none``).
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

CHANNELS = ("email", "chat", "phone")
TOPICS = ("billing", "charging", "app login", "delivery", "cleaning performance", "returns")
PRIORITIES = ("low", "normal", "high", "urgent")
SLA_MINUTES = {"low": 1440, "normal": 480, "high": 120, "urgent": 30}  # first response


@dataclass(frozen=True)
class Ticket:
    opened: date
    channel: str
    topic: str
    priority: str
    first_response_minutes: int
    resolved: bool


def _day(day: date) -> list[Ticket]:
    rng = random.Random(day.toordinal())  # the same day always has the same tickets
    weekend = day.weekday() >= 5
    count = rng.randint(20, 40) if weekend else rng.randint(90, 150)
    return [
        Ticket(
            opened=day,
            channel=rng.choices(CHANNELS, weights=(5, 4, 1))[0],
            topic=rng.choices(TOPICS, weights=(4, 3, 3, 2, 2, 1))[0],
            priority=rng.choices(PRIORITIES, weights=(3, 6, 2, 1))[0],
            first_response_minutes=int(rng.expovariate(1 / (240 if weekend else 90))),
            resolved=rng.random() < 0.9,
        )
        for _ in range(count)
    ]


def _week(week: str) -> tuple[date, date]:
    """Monday and Sunday of ``week``: "last" (the last complete week) or an ISO week, 2025-W10."""
    if week == "last":
        today = datetime.now().date()
        monday = today - timedelta(days=today.weekday() + 7)
        return monday, monday + timedelta(days=6)
    try:
        year, number = week.split("-W")
        monday = date.fromisocalendar(int(year), int(number), 1)
    except ValueError:
        message = f"week must be 'last' or an ISO week such as 2025-W10, not {week!r}"
        raise ToolError(message) from None
    return monday, monday + timedelta(days=6)


def _tickets(first: date, last: date) -> list[Ticket]:
    days = (first + timedelta(n) for n in range((last - first).days + 1))
    return [t for d in days for t in _day(d)]


def _breached(ticket: Ticket) -> bool:
    return ticket.first_response_minutes > SLA_MINUTES[ticket.priority]


mcp = MCPServer("ticket-metrics", instructions="Read-only support ticket statistics.")


@mcp.tool(annotations=ToolAnnotations(read_only_hint=True))
def ticket_stats(week: str = "last") -> dict[str, object]:
    """Volume, resolution rate and first-response SLA of the tickets opened in one week.

    Args:
        week: "last" for the last complete week (Monday to Sunday), or an ISO week such as
            2025-W10 to compare with earlier weeks.
    """
    first, last = _week(week)
    tickets = _tickets(first, last)
    return {
        "week": f"{first.isocalendar().year}-W{first.isocalendar().week:02d}",
        "from": first.isoformat(),
        "to": last.isoformat(),
        "opened": len(tickets),
        "resolved_pct": round(100 * sum(t.resolved for t in tickets) / len(tickets), 1),
        "median_first_response_minutes": statistics.median(
            t.first_response_minutes for t in tickets
        ),
        "sla_breaches": sum(_breached(t) for t in tickets),
        "by_channel": dict(Counter(t.channel for t in tickets).most_common()),
        "by_priority": dict(Counter(t.priority for t in tickets).most_common()),
    }


@mcp.tool(annotations=ToolAnnotations(read_only_hint=True))
def top_topics(week: str = "last", limit: int = 5) -> list[dict[str, object]]:
    """The most frequent ticket topics of one week ("last" or an ISO week such as 2025-W10)."""
    counts = Counter(t.topic for t in _tickets(*_week(week)))
    total = sum(counts.values())
    return [
        {"topic": topic, "tickets": n, "share_pct": round(100 * n / total, 1)}
        for topic, n in counts.most_common(max(1, min(limit, len(TOPICS))))
    ]


@mcp.tool(annotations=ToolAnnotations(read_only_hint=True))
def open_backlog() -> dict[str, object]:
    """Tickets still open from the last 14 days, by priority, with those past their SLA."""
    today = datetime.now().date()
    open_tickets = [t for t in _tickets(today - timedelta(days=13), today) if not t.resolved]
    return {
        "as_of": today.isoformat(),
        "open": len(open_tickets),
        "by_priority": dict(Counter(t.priority for t in open_tickets).most_common()),
        "urgent_or_high_past_sla": sum(
            _breached(t) for t in open_tickets if t.priority in ("urgent", "high")
        ),
        "oldest_days": max(((today - t.opened).days for t in open_tickets), default=0),
    }


if __name__ == "__main__":
    mcp.run()
