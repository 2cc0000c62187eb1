"""Library MCP server for the research-crew example: papers and working-time regulations.

A stdio MCP server built on the official ``mcp`` SDK, serving two collections that the spec
exposes as two tools (``papers`` and ``regulations``, each with ``expose:``), so the literature
specialist cannot browse the legal texts and the legal specialist cannot cite papers.

The papers are **fictional abstracts written for this example**; they are not real
publications. The regulation entries are short summaries of real rules for the example, not
legal advice: check the current text before relying on them. Nothing here touches the network.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations


@dataclass(frozen=True)
class Paper:
    id: str
    title: str
    authors: str
    year: int
    abstract: str
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class Regulation:
    id: str
    title: str
    jurisdiction: str
    summary: str


PAPERS = (
    Paper(
        "P-201",
        "Output and wellbeing in a six-month four-day week pilot (fictional)",
        "Example, A.; Sample, B.",
        2024,
        "Sixty-one firms moved to a 32-hour week at full pay for six months. Self-reported "
        "burnout fell, sick days fell by about a third, and revenue was flat to slightly up. "
        "Most firms kept the schedule afterwards. No control group; firms self-selected.",
        ("four-day week", "productivity", "wellbeing", "pilot", "sick days"),
    ),
    Paper(
        "P-202",
        "Compressed hours versus reduced hours: a comparison (fictional)",
        "Placeholder, C.",
        2023,
        "Compares 4x10-hour compressed weeks with 4x8-hour reduced weeks in 14 public agencies. "
        "Compressed weeks showed higher end-of-day fatigue and no wellbeing gain; reduced weeks "
        "improved wellbeing. Output was measured by case throughput.",
        ("compressed hours", "four-day week", "fatigue", "public sector"),
    ),
    Paper(
        "P-203",
        "Who drops out? Attrition and selection in working-time trials (fictional)",
        "Demo, D.; Example, A.",
        2025,
        "Re-analyses three pilots and finds that firms with falling revenue were more likely to "
        "leave the trial early, which biases headline results upward by an estimated 2-4 "
        "percentage points.",
        ("selection bias", "attrition", "pilot", "methodology"),
    ),
    Paper(
        "P-204",
        "Shift coverage under a 32-hour week in care homes (fictional)",
        "Sample, B.",
        2024,
        "In round-the-clock services, a 32-hour week required 9-12% more staff to keep coverage; "
        "overtime rose in the first two months and then fell below the baseline.",
        ("care", "shift work", "staffing", "four-day week"),
    ),
)

REGULATIONS = (
    Regulation(
        "EU-2003-88",
        "Working Time Directive (2003/88/EC)",
        "EU",
        "Average weekly working time, overtime included, may not exceed 48 hours. Workers get "
        "11 consecutive hours of daily rest, a break when the working day exceeds 6 hours, 24 "
        "uninterrupted hours of weekly rest and at least 4 weeks of paid annual leave.",
    ),
    Regulation(
        "DE-ARBZG",
        "Arbeitszeitgesetz (ArbZG)",
        "DE",
        "A working day may not exceed 8 hours; up to 10 hours are allowed if the average over "
        "6 months or 24 weeks stays at 8 hours. Breaks: 30 minutes after 6 hours, 45 minutes "
        "after 9 hours. 11 hours of rest between working days.",
    ),
    Regulation(
        "UK-WTR-1998",
        "Working Time Regulations 1998",
        "UK",
        "Average weekly working time is limited to 48 hours, normally over 17 weeks; a worker "
        "may opt out in writing. 5.6 weeks of paid annual leave.",
    ),
    Regulation(
        "FR-L3121-27",
        "Code du travail, article L3121-27",
        "FR",
        "The legal working week is 35 hours; hours beyond it are overtime. Absolute limits of "
        "10 hours a day and 48 hours a week, and 44 hours on average over 12 weeks.",
    ),
)

mcp = MCPServer("research-library", instructions="Search papers and working-time regulations.")

_WORD = re.compile(r"[a-z0-9]+")
T = TypeVar("T")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _rank(query: str, items: list[tuple[str, T]], limit: int) -> list[T]:
    terms = _words(query)
    if not terms:
        raise ToolError("query is empty: pass a few words")
    scored = [(len(terms & _words(text)), i, item) for i, (text, item) in enumerate(items)]
    hits = sorted((s for s in scored if s[0] > 0), key=lambda s: (-s[0], s[1]))
    return [item for _, _, item in hits[: max(1, min(limit, 20))]]


@mcp.tool(annotations=ToolAnnotations(read_only_hint=True))
def search_papers(query: str, limit: int = 5) -> list[dict[str, object]]:
    """Search the paper collection; return id, title, authors, year and keywords of the best
    matches (use get_paper for the abstract)."""
    items = [(f"{p.title} {' '.join(p.keywords)} {p.abstract}", p) for p in PAPERS]
    return [
        {
            "id": p.id,
            "title": p.title,
            "authors": p.authors,
            "year": p.year,
            "keywords": list(p.keywords),
        }
        for p in _rank(query, items, limit)
    ]


@mcp.tool(annotations=ToolAnnotations(read_only_hint=True))
def get_paper(paper_id: str) -> dict[str, object]:
    """Return one paper with its abstract, by the id search_papers returned (P-201)."""
    for paper in PAPERS:
        if paper.id == paper_id:
            return asdict(paper)
    raise ToolError(f"no paper {paper_id!r}; use an id returned by search_papers")


@mcp.tool(annotations=ToolAnnotations(read_only_hint=True))
def search_regulations(query: str, jurisdiction: str | None = None) -> list[dict[str, str]]:
    """Search working-time regulations; optionally only one jurisdiction (EU, DE, UK, FR)."""
    pool = [r for r in REGULATIONS if jurisdiction in (None, r.jurisdiction)]
    if not pool:
        known = ", ".join(sorted({r.jurisdiction for r in REGULATIONS}))
        raise ToolError(f"no regulations for {jurisdiction!r}; known: {known}")
    items = [(f"{r.title} {r.jurisdiction} {r.summary}", r) for r in pool]
    return [asdict(r) for r in _rank(query, items, 10)]


if __name__ == "__main__":
    mcp.run()
