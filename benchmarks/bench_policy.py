"""Benchmark the policy decision point: microseconds per decision for 10, 100 and 1,000 policies.

Usage: .venv/bin/python benchmarks/bench_policy.py [--check] [--sizes 10,100,1000] [--calls 20000]
       [--json FILE]

Builds, for each size, an agent's policies the way a large spec has them: a quarter of them
name the tool called (deny over a threshold, require_approval over a lower one, allow for a
tier, deny when an argument is missing), the rest name other tools by name or glob; some match
every agent, some only others. Then times :meth:`PolicyDecisionPoint.decide` on calls whose
arguments vary (so each outcome is taken: allow, held, deny by condition, deny by a condition
that cannot be evaluated), ``--calls`` decisions per round, 5 rounds, and reports the median
microseconds per decision and decisions per second. Target (the issue's budget): under 50 µs a
decision for 100 policies (``--check``: exit 1 if missed). Standard library + agentform only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from agentform.contract import PolicyValue
from agentform.runtime.policy.decision import PolicyDecisionPoint

TARGET_US = 50.0  # for 100 policies


def policies(n: int) -> dict[str, PolicyValue]:
    out: dict[str, PolicyValue] = {}
    for i in range(n):
        agents = ["*"] if i % 3 else [f"agent-{i % 7}", "billing*"]
        if i % 4 == 0:
            kind = (i // 4) % 4
            tool = ["refunds"]
            if kind == 0:
                out[f"p{i}"] = PolicyValue(
                    agents=agents, tools=tool, effect="deny", when=f"args.amount > {1000 + i}"
                )
            elif kind == 1:
                out[f"p{i}"] = PolicyValue(
                    agents=agents,
                    tools=tool,
                    effect="require_approval",
                    when=f"args.amount > {100 + i}",
                    approvers=["lead"],
                )
            elif kind == 2:
                out[f"p{i}"] = PolicyValue(
                    agents=agents,
                    tools=tool,
                    effect="allow",
                    when="task.inputs.tier is defined and task.inputs.tier == 'vip'",
                )
            else:
                out[f"p{i}"] = PolicyValue(
                    agents=agents, tools=tool, effect="deny", when="args.currency not in ['EUR']"
                )
        else:
            tools = [f"tool-{i}"] if i % 2 else [f"svc-{i % 13}-*"]
            out[f"p{i}"] = PolicyValue(agents=agents, tools=tools, effect="deny")
    return out


CALLS: list[dict[str, Any]] = [
    {"amount": 50, "currency": "EUR"},
    {"amount": 500, "currency": "EUR"},
    {"amount": 5000, "currency": "EUR"},
    {"amount": 50, "currency": "USD"},
    {"amount": 50},
]


def measure(n: int, calls: int, rounds: int = 5) -> dict[str, Any]:
    point = PolicyDecisionPoint("billing", policies(n))
    task = {"id": "t", "inputs": {"tier": "standard"}, "parent_id": None, "agent": "billing"}
    effects: dict[str, int] = {}
    for args in CALLS:  # warm the per-tool cache, and see every outcome once
        effect = point.decide("refunds", args, task=task).effect
        effects[effect] = effects.get(effect, 0) + 1
    per_call: list[float] = []
    for _ in range(rounds):
        started = time.perf_counter()
        for i in range(calls):
            point.decide("refunds", CALLS[i % len(CALLS)], task=task)
        per_call.append((time.perf_counter() - started) / calls * 1e6)
    median = statistics.median(per_call)
    return {
        "policies": n,
        "governing_the_tool": len(point._rules_for("refunds")),
        "us_per_decision": round(median, 2),
        "min_us": round(min(per_call), 2),
        "max_us": round(max(per_call), 2),
        "decisions_per_s": round(1e6 / median),
        "outcomes": effects,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = [measure(int(n), args.calls) for n in args.sizes.split(",")]
    print("| policies | of them on the tool | µs a decision (min–max) | decisions/s |")
    print("|---|---|---|---|")
    for r in results:
        print(
            f"| {r['policies']:,} | {r['governing_the_tool']} | {r['us_per_decision']} "
            f"({r['min_us']}–{r['max_us']}) | {r['decisions_per_s']:,} |"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    hundred = next((r for r in results if r["policies"] == 100), None)
    if args.check and hundred is not None:
        ok = hundred["us_per_decision"] < TARGET_US
        print(
            f"{'PASS' if ok else 'FAIL'}  100 policies: {hundred['us_per_decision']} µs "
            f"< {TARGET_US:g} µs"
        )
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
