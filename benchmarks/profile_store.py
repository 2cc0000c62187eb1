"""The worker's store writes for a simple task, in-process: CPU microseconds a task.

Usage: .venv/bin/python benchmarks/profile_store.py [--tasks 6000] [--lanes 16,64] [--rounds 3]
       [--profile LANES] [--top 30] [--json FILE]

What a worker writes for a task published on the bus whose model answers at once, through the
real :class:`agentform.runtime.store.RuntimeStore` on a fresh SQLite file (a temp dir): the task
recorded and started (``start_turn_batched`` with ``create``, not ``recorded``), then its
``start``, ``model`` and ``final`` steps with its end (``finish_with_steps_batched``). ``--lanes``
tasks run at once (``asyncio.gather``), so the store's group commit puts up to that many tasks in
a transaction, as a worker's concurrent tasks share one. Reported: process CPU time and wall time
a task (median of ``--rounds``, after 500 tasks to warm up), no NATS, no model, no worker loop:
what the store itself costs. Since ``4d279e3`` each of the two transactions also appends to the
hash-chained audit log (``task.submitted``, ``task.ended``), so running this at a commit before
and after (``compare.py OLD NEW --only store --scripts here``) gives the audit's share of the
worker's CPU. ``--profile 16`` adds one cProfile run at 16 lanes (top functions by cumulative time
under ``agentform/runtime/store``, and what the audit append calls). Works with the store's API
since ``8c9babb``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import agentform
from agentform.runtime.store import NewStep, RuntimeStore, TaskStatus
from agentform.runtime.store.ids import new_id

OUT = Path(__file__).resolve().parent / "out" / "store.json"
WARM_UP = 500


async def one_task(store: RuntimeStore, task_id: str) -> None:
    create = {
        "agent": "bench",
        "input": "hi",
        "context_id": new_id(),
        "inputs": {},
        "parent_id": None,
        "caller": None,
    }
    turn = await store.start_turn_batched(task_id, "w1", create=create, recorded=False)
    if turn.task is None:
        raise SystemExit(f"task {task_id} did not start: {turn}")
    steps = [
        NewStep(0, "start", {"instructions": "Answer in one word.", "started_at": time.time()}),
        NewStep(
            1,
            "model",
            {"response": {"text": "ok", "tool_calls": []}},
            input_tokens=5,
            output_tokens=1,
            latency_ms=0.1,
        ),
        NewStep(2, "final", {"text": "ok"}),
    ]
    await store.finish_with_steps_batched(task_id, steps, TaskStatus.COMPLETED, result="ok")


async def run(url: str, tasks: int, lanes: int) -> tuple[float, float]:
    """CPU seconds and wall seconds for ``tasks`` tasks over ``lanes`` lanes."""
    store = RuntimeStore(url)
    ids = [new_id() for _ in range(tasks)]

    async def lane(mine: list[str]) -> None:
        for task_id in mine:
            await one_task(store, task_id)

    try:
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(lane(ids[i::lanes]) for i in range(lanes)))
        return time.process_time() - cpu, time.perf_counter() - wall
    finally:
        store.close()


def measure(tasks: int, lanes: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        url = f"sqlite:///{tmp}/runtime.db"
        asyncio.run(run(url, WARM_UP, lanes))
        return asyncio.run(run(url, tasks, lanes))


def profile(tasks: int, lanes: int, top: int) -> str:
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        url = f"sqlite:///{tmp}/runtime.db"
        asyncio.run(run(url, WARM_UP, lanes))
        profiler = cProfile.Profile()
        profiler.enable()
        asyncio.run(run(url, tasks, lanes))
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats("runtime/store|runtime/audit", top)
    stats.print_callees(r"store/audit.py:\d+\(append\)")
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=6000)
    parser.add_argument("--lanes", default="16,64", help="tasks at once, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=int, metavar="LANES", help="one cProfile run too")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--json", type=Path, default=OUT, help=f"results file (default {OUT})")
    args = parser.parse_args(argv)
    res: dict[str, Any] = {
        "tasks": args.tasks,
        "rounds": args.rounds,
        "agentform_code": str(Path(agentform.__file__).resolve().parent),
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }
    lanes_list = [int(n) for n in args.lanes.split(",") if n]
    samples: dict[int, list[tuple[float, float]]] = {n: [] for n in lanes_list}
    for _ in range(args.rounds):  # the lane counts side by side, round by round
        for lanes in lanes_list:
            samples[lanes].append(measure(args.tasks, lanes))
    for lanes, got in samples.items():
        cpu = [c / args.tasks * 1e6 for c, _ in got]
        wall = [w / args.tasks * 1e6 for _, w in got]
        res[f"lanes_{lanes}"] = {
            "cpu_us_per_task": round(statistics.median(cpu), 1),
            "cpu_us_min_max": [round(min(cpu), 1), round(max(cpu), 1)],
            "wall_us_per_task": round(statistics.median(wall), 1),
        }
        print(
            f"{lanes:>4} lanes: CPU {statistics.median(cpu):7.1f} us a task"
            f" ({min(cpu):.1f}-{max(cpu):.1f}), wall {statistics.median(wall):7.1f} us a task"
        )
    if args.profile:
        text = profile(args.tasks, args.profile, args.top)
        res["profile"] = text
        print(text.replace(str(Path(agentform.__file__).resolve().parent.parent) + "/", ""))
    res["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print(f"code {res['agentform_code']}; load average {res['load_before']} -> {res['load_after']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
