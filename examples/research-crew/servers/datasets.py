"""Datasets MCP server for the research-crew example: small tables and simple statistics.

A stdio MCP server built on the official ``mcp`` SDK. The tables are **synthetic**, made up
for this example. ``survey_raw`` stands for a table with free-text answers that may identify
people: the server lists it (analysts with access use the same server), and the spec's
``no-raw-survey`` policy keeps the agents away from it.
"""

from __future__ import annotations

import statistics

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

Row = dict[str, float | str]

_PILOT_COLUMNS = (
    "company",
    "sector",
    "employees",
    "revenue_change_pct",
    "sick_days_before",
    "sick_days_after",
)
_PILOT_ROWS = (
    ("c01", "software", 42, 3.1, 6.2, 4.1),
    ("c02", "marketing", 18, 1.4, 5.0, 3.6),
    ("c03", "manufacturing", 230, -0.8, 9.4, 7.9),
    ("c04", "care", 120, 0.2, 11.0, 8.1),
    ("c05", "finance", 65, 2.2, 4.8, 3.9),
    ("c06", "retail", 95, -1.5, 8.7, 7.2),
    ("c07", "software", 27, 4.0, 5.5, 3.0),
    ("c08", "public", 310, 0.0, 10.2, 7.4),
)

TABLES: dict[str, tuple[str, list[Row]]] = {
    "pilot_outcomes": (
        "One row per company in a (synthetic) six-month four-day week pilot.",
        [dict(zip(_PILOT_COLUMNS, row, strict=True)) for row in _PILOT_ROWS],
    ),
    "survey_raw": (
        "Individual survey answers with free text; may identify people. Not for agents.",
        [{"respondent": "r-0001", "wellbeing_before": 5, "wellbeing_after": 7, "comment": "..."}],
    ),
}

mcp = MCPServer("research-datasets", instructions="Describe and compare columns of datasets.")


def _table(name: str) -> list[Row]:
    if name not in TABLES:
        raise ToolError(f"no dataset {name!r}; known: {', '.join(sorted(TABLES))}")
    return TABLES[name][1]


def _numbers(rows: list[Row], column: str) -> list[float]:
    values = [row.get(column) for row in rows]
    numbers = [float(v) for v in values if isinstance(v, int | float)]
    if not numbers or len(numbers) != len(values):
        raise ToolError(f"column {column!r} is missing or not numeric")
    return numbers


@mcp.tool(annotations=ToolAnnotations(read_only_hint=True))
def list_datasets() -> list[dict[str, object]]:
    """List the datasets with their description, row count and columns."""
    return [
        {"name": name, "description": text, "rows": len(rows), "columns": sorted(rows[0])}
        for name, (text, rows) in sorted(TABLES.items())
    ]


@mcp.tool(annotations=ToolAnnotations(read_only_hint=True))
def describe_dataset(name: str) -> dict[str, dict[str, float]]:
    """Count, mean, median, min and max of every numeric column of a dataset."""
    rows = _table(name)
    out = {}
    for column, value in rows[0].items():
        if isinstance(value, int | float):
            xs = _numbers(rows, column)
            out[column] = {
                "n": len(xs),
                "mean": round(statistics.fmean(xs), 2),
                "median": round(statistics.median(xs), 2),
                "min": min(xs),
                "max": max(xs),
            }
    return out


@mcp.tool(annotations=ToolAnnotations(read_only_hint=True))
def compare(name: str, before: str, after: str) -> dict[str, float]:
    """Compare two numeric columns of a dataset row by row (e.g. sick days before and after).

    Returns the mean of each, the mean change and the percent change of the means.
    """
    rows = _table(name)
    xs, ys = _numbers(rows, before), _numbers(rows, after)
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    return {
        "n": len(xs),
        "mean_before": round(mean_x, 2),
        "mean_after": round(mean_y, 2),
        "mean_change": round(mean_y - mean_x, 2),
        "pct_change": round(100 * (mean_y - mean_x) / mean_x, 1),
        "rows_improved": sum(y < x for x, y in zip(xs, ys, strict=True)),
    }


if __name__ == "__main__":
    mcp.run()
