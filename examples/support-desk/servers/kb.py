"""Knowledge-base MCP server for the support-desk example: search the help-centre articles.

A stdio MCP server built on the official ``mcp`` SDK. The articles live in this file so the
example runs offline; a real deployment would search the help centre's index instead. Read-only,
which is why the spec declares the tool ``side_effects: none``.

Run it by hand with ``python servers/kb.py`` (it speaks MCP on stdin/stdout).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    body: str
    tags: tuple[str, ...]


ARTICLES = (
    Article(
        "kb-101",
        "Resetting your password",
        "Open app.acme-robotics.example/login and choose 'Forgot password'. The reset link is "
        "valid for 30 minutes. If the email does not arrive, check the spam folder; support "
        "cannot set a password for you.",
        ("account", "login", "password"),
    ),
    Article(
        "kb-102",
        "Changing your subscription plan",
        "Plans can be changed under Settings > Billing > Plan. Upgrades apply at once and are "
        "charged pro rata; downgrades take effect at the start of the next billing period.",
        ("billing", "plan", "subscription", "upgrade", "downgrade"),
    ),
    Article(
        "kb-103",
        "Downloading invoices",
        "Every invoice is available as a PDF under Settings > Billing > Invoices, for the last "
        "seven years. Invoices cannot be edited after they are issued; for a corrected "
        "company name or VAT number, ask billing for a credit note and a new invoice.",
        ("billing", "invoice", "vat", "pdf"),
    ),
    Article(
        "kb-104",
        "Refund policy",
        "Hardware can be returned within 30 days of delivery for a full refund. Subscription "
        "fees are refunded pro rata when a service outage exceeds 24 hours. Refunds go back to "
        "the original payment method within 5-10 business days. Refunds over 100 EUR are "
        "reviewed by a support lead.",
        ("billing", "refund", "return", "money back"),
    ),
    Article(
        "kb-105",
        "The robot does not charge",
        "Clean the charging contacts on the robot and the dock with a dry cloth, make sure the "
        "dock has 0.5 m of free space on each side, and check that the dock's LED is white. "
        "If the LED blinks orange, the dock is faulty: contact support for a replacement.",
        ("hardware", "charging", "dock", "battery"),
    ),
    Article(
        "kb-106",
        "Delivery times",
        "Orders ship within 2 business days. Delivery takes 3-5 business days in the EU and "
        "5-10 business days elsewhere. The tracking link is in the shipping confirmation email.",
        ("shipping", "delivery", "tracking", "order"),
    ),
    Article(
        "kb-107",
        "Cancelling your subscription",
        "Cancel under Settings > Billing > Plan > Cancel. The subscription stays active until "
        "the end of the paid period; the robot keeps working offline without cloud features.",
        ("billing", "cancel", "subscription"),
    ),
    Article(
        "kb-108",
        "Updating your payment method",
        "Add a new card or SEPA mandate under Settings > Billing > Payment methods, then mark "
        "it as default. Failed payments are retried after 3 and 7 days.",
        ("billing", "payment", "card", "sepa"),
    ),
)

mcp = MCPServer(
    "acme-kb",
    instructions="Search Acme Robotics help-centre articles before answering a customer.",
)

_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _score(article: Article, query: set[str]) -> int:
    # title and tag hits count double: they say what the article is about, the body only
    # mentions things in passing
    head = _words(article.title) | _words(" ".join(article.tags))
    return 2 * len(query & head) + len(query & _words(article.body))


@mcp.tool(annotations=ToolAnnotations(read_only_hint=True))
def search_kb(query: str, limit: int = 3) -> list[dict[str, str]]:
    """Search the help-centre articles; return the best matches with a short snippet.

    Args:
        query: What the customer asks about, in a few words ("refund hardware").
        limit: How many articles to return at most (1-10).
    """
    terms = _words(query)
    if not terms:
        raise ToolError("query is empty: pass a few words describing the question")
    ranked = sorted(
        ((s, a) for a in ARTICLES if (s := _score(a, terms)) > 0),
        key=lambda pair: (-pair[0], pair[1].id),
    )
    return [
        {"id": a.id, "title": a.title, "snippet": a.body[:160]}
        for _, a in ranked[: max(1, min(limit, 10))]
    ]


@mcp.tool(annotations=ToolAnnotations(read_only_hint=True))
def get_article(article_id: str) -> dict[str, str]:
    """Return the full text of one article, by the id that search_kb returned (kb-104)."""
    for article in ARTICLES:
        if article.id == article_id:
            return {"id": article.id, "title": article.title, "body": article.body}
    raise ToolError(f"no article {article_id!r}; use an id returned by search_kb")


if __name__ == "__main__":
    mcp.run()
