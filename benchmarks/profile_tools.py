"""The worker's side of one MCP tool call, in-process: CPU microseconds a task, with and without.

Usage: .venv/bin/python benchmarks/profile_tools.py [--tasks 3000] [--lanes 1,256] [--rounds 3]
       [--side-effects idempotent] [--profile LANES] [--top 40] [--json FILE]

What a worker does for a task whose model calls one MCP tool, without NATS: the real
:class:`agentform.runtime.worker.loop.AgentLoop` over the real
:class:`agentform.runtime.store.RuntimeStore` (a fresh SQLite file in a temp dir) and the real
:class:`agentform.runtime.tools.toolbox.Toolbox` with the ``toys`` stdio server
(``tests/runtime/mcp_servers/toys.py``, written with the ``mcp`` SDK) exposing ``echo``. Each task
is recorded and started as a worker does (``start_turn_batched`` with ``create``), then run by the
loop: ``plain``, its model answers at once; ``tooled``, its model calls ``echo`` once, then
answers with the result; and ``mcp``, the toolbox's call alone (no task, no store, no
loop: what the ``mcp`` SDK's client and the server cost, and how many calls a second they
carry). ``--lanes`` tasks run at once (``asyncio.gather``) over one toolbox:
one MCP session, the calls of the lanes in flight on it together, and one store whose group
commit shares transactions between lanes, as in a worker. The three kinds alternate, round by
round, after 200 of each to warm up. Reported per task: this process's CPU time (the
worker's share; the model is a few lines of Python), the server's CPU time (read from
``/proc``: not agentform's), wall time, and the store's transactions and the steps announced
(the events a worker publishes). Process CPU time is not disturbed by other work the way wall
time is, so before and after a change compare on a busy machine too (run this script at both,
``PYTHONPATH`` on each checkout). ``--profile 256`` adds one cProfile run of ``tooled``.
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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import agentform
from agentform.runtime.conversation import Message, ModelResponse, ToolCall, ToolSpec
from agentform.runtime.store import RuntimeStore, StepRecord
from agentform.runtime.store.ids import new_id
from agentform.runtime.tools.toolbox import Toolbox
from agentform.runtime.worker.loop import AgentLoop, Limits

OUT = Path(__file__).resolve().parent / "out" / "tools.json"
TOYS = Path(__file__).resolve().parents[1] / "tests" / "runtime" / "mcp_servers" / "toys.py"
WARM_UP = 200


class Model:
    """Answers at once (``plain``), or calls ``echo`` first and answers with its result."""

    def __init__(self, calls: bool) -> None:
        self.calls = calls

    async def complete(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec]
    ) -> ModelResponse:
        last = messages[-1]
        if last.role == "tool":
            return ModelResponse(text=last.content, input_tokens=9, output_tokens=2)
        if self.calls:
            call = ToolCall("call_0", "echo", {"text": last.content})
            return ModelResponse(tool_calls=(call,), input_tokens=7, output_tokens=3)
        return ModelResponse(text="ok", input_tokens=7, output_tokens=1)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pid() -> int:
    """The toys server: this process's child running toys.py."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rpartition(")")[2].split()
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == os.getpid() and b"toys.py" in cmd:
            return int(entry.name)
    raise SystemExit("the toys server is not running")


class Bench:
    """One store, one toolbox, and the two loops sharing them."""

    def __init__(self, store: RuntimeStore, toolbox: Toolbox) -> None:
        self.store = store
        self.toolbox = toolbox
        self.announced = 0
        self.notices = 0

        async def notify(steps: list[StepRecord]) -> None:
            self.notices += 1
            self.announced += len(steps)

        self.loops = {
            kind: AgentLoop(
                store=store,
                model=Model(kind == "tooled"),
                tools=toolbox,
                instructions="Echo.",
                limits=Limits(max_steps=4, timeout=30.0),
                notify=notify,
            )
            for kind in ("plain", "tooled")
        }

    async def one(self, kind: str) -> None:
        if kind == "mcp":
            result = await self.toolbox.call("echo", {"text": "hi"}, idempotency_key="k")
            if result.content != "toys:hi":
                raise SystemExit(f"echo answered {result}")
            return
        task_id = new_id()
        create = {
            "agent": "bench",
            "input": "hi",
            "context_id": new_id(),
            "inputs": {},
            "parent_id": None,
            "caller": None,
        }
        turn = await self.store.start_turn_batched(task_id, "w1", create=create, recorded=False)
        assert turn.task is not None
        outcome = await self.loops[kind].run(turn.task)
        want = "toys:hi" if kind == "tooled" else "ok"
        if not outcome.completed or outcome.text != want:
            raise SystemExit(f"{kind} task {task_id}: {outcome}")

    async def run(self, kind: str, tasks: int, lanes: int) -> dict[str, float]:
        batch = self.store._batch  # its transaction count, for the figures
        before = (batch.transactions, self.notices, self.announced)
        server = server_pid()
        server_cpu = cpu_seconds(server)
        left = iter(range(tasks))

        async def lane() -> None:
            for _ in left:
                await self.one(kind)

        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(lanes)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        return {
            "worker_cpu_us": cpu / tasks * 1e6,
            "server_cpu_us": (cpu_seconds(server) - server_cpu) / tasks * 1e6,
            "wall_us": wall / tasks * 1e6,
            "per_s": tasks / wall,
            "transactions": (batch.transactions - before[0]) / tasks,
            "notices": (self.notices - before[1]) / tasks,
            "steps_announced": (self.announced - before[2]) / tasks,
        }


async def measure(
    tasks: int, lanes: list[int], rounds: int, side_effects: str, profile: int | None
) -> tuple[dict[str, Any], str]:
    with tempfile.TemporaryDirectory(prefix="bench-tools-") as tmp:
        store = RuntimeStore(f"sqlite:///{tmp}/runtime.db")
        tools = {
            "toys": {
                "mcp": {"command": [sys.executable, str(TOYS)]},
                "side_effects": side_effects,
                "expose": ["echo"],
            }
        }
        toolbox = Toolbox(tools, base_dir=Path(tmp), secret=lambda name: None)
        await toolbox.start()
        try:
            bench = Bench(store, toolbox)
            for kind in ("plain", "tooled"):
                await bench.run(kind, WARM_UP, max(lanes))
            samples: dict[str, list[dict[str, float]]] = {}
            for _ in range(rounds):
                for n in lanes:
                    for kind in ("plain", "tooled", "mcp"):
                        got = await bench.run(kind, tasks if n > 1 else tasks // 10, n)
                        samples.setdefault(f"{kind} x{n}", []).append(got)
            text = ""
            if profile:
                profiler = cProfile.Profile(time.process_time)  # CPU, as the figures
                profiler.enable()
                await bench.run("tooled", tasks, profile)
                profiler.disable()
                out = io.StringIO()
                stats = pstats.Stats(profiler, stream=out)
                stats.sort_stats("cumulative").print_stats(40)
                stats.sort_stats("tottime").print_stats(25)
                text = out.getvalue()
        finally:
            await toolbox.aclose()
            store.close()
    result = {
        key: {name: round(statistics.median(r[name] for r in runs), 2) for name in runs[0]}
        for key, runs in samples.items()
    }
    return result, text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=3000, help="tasks a run (a tenth at 1 lane)")
    parser.add_argument("--lanes", default="1,256", help="tasks at once, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--side-effects", choices=["none", "idempotent", "unsafe"], default="idempotent"
    )
    parser.add_argument("--profile", type=int, metavar="LANES", help="one cProfile run too")
    parser.add_argument("--json", type=Path, default=OUT, help=f"results file (default {OUT})")
    args = parser.parse_args(argv)
    lanes = [int(n) for n in args.lanes.split(",") if n]
    load_before = [round(x, 2) for x in os.getloadavg()]
    result, text = asyncio.run(
        measure(args.tasks, lanes, args.rounds, args.side_effects, args.profile)
    )
    for key, got in result.items():
        print(
            f"{key:<13} worker CPU {got['worker_cpu_us']:7.1f} us a task, server CPU"
            f" {got['server_cpu_us']:6.1f}, wall {got['wall_us']:7.1f} ({got['per_s']:,.0f}/s);"
            " transactions"
            f" {got['transactions']:.2f}, announcements {got['notices']:.2f}"
            f" ({got['steps_announced']:.2f} steps)"
        )
    for n in lanes:
        plain, tooled = result[f"plain x{n}"], result[f"tooled x{n}"]
        print(
            f"a tool call adds at {n} lane(s): worker CPU"
            f" {tooled['worker_cpu_us'] - plain['worker_cpu_us']:.1f} us,"
            f" server CPU {tooled['server_cpu_us']:.1f} us"
        )
    if text:
        print(text.replace(str(Path(agentform.__file__).resolve().parent.parent) + "/", ""))
    res = {
        "tasks": args.tasks,
        "rounds": args.rounds,
        "side_effects": args.side_effects,
        "agentform_code": str(Path(agentform.__file__).resolve().parent),
        "load_before": load_before,
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "results": result,
        "profile": text,
    }
    print(f"code {res['agentform_code']}; load average {load_before} -> {res['load_after']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
