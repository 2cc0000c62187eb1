"""Delegation overhead: parent -> child -> parent resume, against a direct task.

Applies a two-agent project in a temp dir (``boss`` delegates every message to ``helper``; both
answer from scripted models at once) with the real CLI, then, one task at a time:

* **direct**: a task sent to ``helper``: submit -> answer -> completed;
* **delegated**: a task sent to ``boss``: the boss's model calls ``helper`` (a child task is
  recorded and published), the boss suspends, the helper answers, the boss is published again,
  replays its records and answers.

The overhead of one delegation is the difference. Completion is the worker's status event, seen
on NATS, as in ``bench_runtime.py`` (whose project plumbing this reuses).

    .venv/bin/python benchmarks/bench_delegation.py [--n 200] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_runtime as rt

SPEC = """\
version: 1
project: {project}
models:
  boss-model: {{provider: scripted, script: scripts/boss.yaml}}
  helper-model: {{provider: scripted, script: scripts/helper.yaml}}
agents:
  boss:
    model: boss-model
    instructions: Delegate.
    delegates: [helper]
  helper:
    model: helper-model
    instructions: Help.
access:
  roles:
    users: ["invoke:*"]
  members:
    bench: [users]
"""
BOSS = """\
rules:
  - match: {tool_result: '.'}
    reply: "boss: {{ tool_result }}"
  - call: {tool: helper, arguments: {message: "{{ user }}"}}
"""
HELPER = 'rules:\n  - reply: "helped: {{ user }}"\n'


class Project(rt.Project):
    def write(self, replicas: int) -> None:
        (self.root / "scripts").mkdir(parents=True, exist_ok=True)
        (self.root / "scripts" / "boss.yaml").write_text(BOSS)
        (self.root / "scripts" / "helper.yaml").write_text(HELPER)
        (self.root / "agentform.yaml").write_text(SPEC.format(project=rt.PROJECT))

    async def wait_ready(self, replicas: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            agents = (await self.status())["agents"]
            if len(agents) == 2 and all(a["running"] >= 1 for a in agents):
                return
            await asyncio.sleep(0.2)
        raise rt.RuntimeMisbehaved("the two agents were not ready")

    async def _on_event(self, msg: Any) -> None:
        # a suspended parent announces "working" (waiting for its child): not an end
        if json.loads(msg.data).get("status") == "working":
            return
        await super()._on_event(msg)

    async def send(self, agent: str) -> float:
        assert self.http is not None
        task_id = uuid.uuid4().hex
        self.waiters[task_id] = asyncio.get_running_loop().create_future()
        started = time.perf_counter()
        response = await self.http.post(
            "/v1/tasks", json={"agent": agent, "input": "hi", "id": task_id}
        )
        if response.status_code != 202:
            raise rt.RuntimeMisbehaved(f"submit answered {response.status_code}")
        done = await asyncio.wait_for(self.waiters[task_id], 30)
        return (done - started) * 1000


async def measure(n: int, cli: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-delegation-") as tmp:
        project = Project(Path(tmp), cli)
        try:
            await project.apply(1)
            out: dict[str, Any] = {}
            for name, agent in (("direct", "helper"), ("delegated", "boss")):
                for _ in range(20):  # warm up
                    await project.send(agent)
                samples = [await project.send(agent) for _ in range(n)]
                out[name] = {
                    "p50_ms": round(rt.pct(samples, 50), 2),
                    "p99_ms": round(rt.pct(samples, 99), 2),
                }
            if project.failed:
                raise rt.RuntimeMisbehaved(f"{len(project.failed)} tasks did not complete")
            out["overhead_p50_ms"] = round(out["delegated"]["p50_ms"] - out["direct"]["p50_ms"], 2)
            out["overhead_p99_ms"] = round(out["delegated"]["p99_ms"] - out["direct"]["p99_ms"], 2)
            return out
        finally:
            await project.close()
            project.teardown()
            left = rt.leftover_processes(Path(tmp))
            if left:
                print("LEFTOVER PROCESSES:", *left, sep="\n  ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="tasks per measurement")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--cli", type=Path, default=Path(sys.executable).parent / "agentform")
    args = parser.parse_args(argv)
    before = rt.loadavg()
    result = asyncio.run(measure(args.n, args.cli))
    result["load_before"], result["load_after"] = before, rt.loadavg()
    for name in ("direct", "delegated"):
        figures = result[name]
        print(f"{name:<10} p50 {figures['p50_ms']:7.2f} ms   p99 {figures['p99_ms']:7.2f} ms")
    print(
        f"overhead   p50 {result['overhead_p50_ms']:7.2f} ms   p99 {result['overhead_p99_ms']:7.2f}"
        f" ms  (load {before} -> {result['load_after']})"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
