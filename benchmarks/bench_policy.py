"""Benchmark policies: the decision point alone, and a policy check end to end on the tool path.

The decision point for 10 / 100 / 1,000 policies; a task calling one MCP tool, tasks/s and
latency with no policy and with 100 policies.

Usage: .venv/bin/python benchmarks/bench_policy.py [--check] [--sizes 10,100,1000] [--calls 20000]
       [--only decisions|e2e] [--tasks 500] [--rounds 8] [--in-flight 16] [--latency-n 100]
       [--json FILE] [--cli PATH]

**Decisions** (``--only decisions``, ≈ 30 s): builds, for each size, an agent's policies the
way a large spec has them: a quarter of them name the tool called (deny over a threshold,
require_approval over a lower one, allow for a tier, deny when an argument is missing), the
rest name other tools by name or glob; some match every agent, some only others. Then times
:meth:`PolicyDecisionPoint.decide` on calls whose arguments vary (so each outcome is taken:
allow, held, deny by condition, deny by a condition that cannot be evaluated), ``--calls``
decisions per round, 5 rounds, and reports the median microseconds per decision and decisions
per second. Target (the issue's budget): under 50 µs a decision for 100 policies (``--check``:
exit 1 if missed). Standard library + agentform only.

**End to end** (``--only e2e``, 40 to 75 s with the defaults on the shared 2-core machine): one
project in a temp dir, applied with the real CLI (engine, embedded nats-server, workers), two
agents alike but for policies, one worker each, both with the ``ledger`` tool (the test suite's
``toys`` MCP server over stdio, copied in, exposing ``echo``) and a scripted model that calls
``echo`` once and replies with its result: ``plain`` has no policy (the worker asks no decision
point and records no decision); ``governed`` has 100, all on it and the tool: 99 ``deny`` /
``require_approval`` with a ``when`` false for the call (``args.text == 'never-N'``) and one
``allow``, so every call evaluates the 99 conditions and is allowed by the one. The spec is
checked with ``agentform validate`` first. After a warm-up (a checked task, a latency run and a
throughput run for each agent, not counted), ``--rounds`` rounds, each plain then governed (A,
B, A, B ...: load changes hit both): ``--tasks`` tasks with ``--in-flight`` in flight through
the control API (many a request, as ``bench_runtime.py``'s "many a request"), first submit to
last completion (the worker's status event on NATS), with the CPU time of the agent's worker,
its MCP server, the engine and nats-server over the run; then ``--latency-n`` tasks one at a
time (submit to status event). Reported: tasks/s, the median over the rounds (and each round's);
p50 and p99 at 1 in flight over all the rounds' samples; CPU ms a task over all the throughput
tasks; the governed/plain difference in percent (the median of the rounds' ratios: each pair ran
back to back), in wall ms a task and in worker CPU ms a task; and the microseconds of one
governed decision in-process (``decide`` and the arguments' digest), for comparison. Every task
must complete; before and after the rounds one task of each agent is checked (the tool's answer;
the governed call's recorded decision is ``allow`` by ``ledger-allowed``, the plain one records
none; a governed call with ``text: never-01`` is denied by ``never-01``). Needs nats-py, httpx2
and ``nats-server`` (as ``bench_runtime.py``, whose project plumbing this reuses). Always tears
down (``agentform destroy``, ``agentform engine stop``), then fails (exit 2) if a process of the
project is still running (and kills it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
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


# -- end to end: a task calling one MCP tool, with no policy and with 100 -------------------------

E2E_POLICIES = 100
TOYS = Path(__file__).resolve().parents[1] / "tests" / "runtime" / "mcp_servers" / "toys.py"
E2E_SCRIPT = """\
rules:
  - match: {tool_result: '.'}
    reply: "{{ tool_result }}"
  - call: {tool: echo, arguments: {text: "{{ user }}"}}
"""
TERMINAL = frozenset({"completed", "failed", "canceled", "cancelled", "rejected"})


def e2e_policies() -> dict[str, dict[str, Any]]:
    """``governed``'s policies: 99 conditional deny / require_approval whose ``when`` is false
    for the benchmark's calls, then one unconditional allow."""
    out: dict[str, dict[str, Any]] = {}
    for i in range(E2E_POLICIES - 1):
        policy: dict[str, Any] = {"agents": ["governed"], "tools": ["ledger"]}
        if i % 2:
            policy["effect"] = "deny"
        else:
            policy |= {"effect": "require_approval", "approvers": ["leads"]}
        out[f"never-{i:02d}"] = policy | {"when": f"args.text == 'never-{i:02d}'"}
    out["ledger-allowed"] = {"agents": ["governed"], "tools": ["ledger"], "effect": "allow"}
    return out


def e2e_spec(root: Path, project: str) -> str:
    """The two-agent spec: ``plain`` without policies, ``governed`` with ``e2e_policies()``."""
    agent = """\
  {name}:
    model: echo-model
    instructions: Echo through the ledger.
    tools: [ledger]
    replicas: 1
    limits:
      max_steps: 4
      timeout: 30s
"""
    policies = e2e_policies()
    held = [name for name, p in policies.items() if p["effect"] == "require_approval"]
    lines = [
        "version: 1",
        f"project: {project}",
        "description: Policy benchmark, end to end (generated by benchmarks/bench_policy.py).",
        "",
        "models:",
        "  echo-model:",
        "    provider: scripted",
        "    script: scripts/echo.yaml",
        "",
        "tools:",
        "  ledger:",
        "    mcp:",
        f"      command: [{json.dumps(sys.executable)}, {json.dumps(str(root / 'server.py'))}]",
        "    side_effects: idempotent",
        "    expose: [echo]",
        "",
        "agents:",
        agent.format(name="plain") + agent.format(name="governed"),
        "policies:",
    ]
    for name, policy in policies.items():  # JSON is YAML: one flow mapping a policy
        lines.append(f"  {name}: {json.dumps(policy)}")
    lines += [
        "",
        "access:",
        "  roles:",
        "    users: [invoke:plain, invoke:governed]",
        f"    leads: {json.dumps(['invoke:governed', *(f'approve:{n}' for n in held)])}",
        "  members:",
        "    bench-token: [users]",
        "    bench-lead: [leads]",
        "",
    ]
    return "\n".join(lines)


def e2e_decision_us(calls: int = 2000, rounds: int = 5) -> float:
    """Microseconds of one ``governed`` decision on the benchmark's call, in-process (the
    worker's :meth:`PolicyDecisionPoint.on_call` minus the task record: ``decide`` and the
    arguments' digest), median of ``rounds``."""
    from agentform.runtime.policy.decision import args_digest

    point = PolicyDecisionPoint(
        "governed", {n: PolicyValue(**p) for n, p in e2e_policies().items()}
    )
    task: dict[str, Any] = {
        "id": "t",
        "inputs": {},
        "parent_id": None,
        "agent": "governed",
        "caller": "x",
    }
    args = {"text": "hi"}
    assert point.decide("ledger", args, task=task).policies == ("ledger-allowed",)
    per_call = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            point.decide("ledger", args, function="echo", task=task, context={"id": "c"})
            args_digest(args)
        per_call.append((time.perf_counter() - started) / calls * 1e6)
    return round(statistics.median(per_call), 1)


def children_of(pid: int) -> list[int]:
    """The direct children of a process (a worker's MCP server)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((entry / "stat").read_text().rpartition(")")[2].split()[1]) == pid:
                    out.append(int(entry.name))
    return out


def processes_of(root: Path) -> list[tuple[int, str]]:
    """Live processes whose command line mentions ``root`` or that run inside it."""
    mark, found = str(root), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
            if "\nState:\tZ" in "\n" + (entry / "status").read_text():
                continue
            if mark in cmd or cwd == mark or cwd.startswith(mark + "/"):
                found.append((int(entry.name), cmd.strip()[:160]))
    return found


async def e2e_measure(
    cli: Path, tasks: int, rounds: int, in_flight: int, latency_n: int
) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_runtime as rt  # nats-py and httpx2: only for this part

    class Project(rt.Project):
        def write(self, replicas: int) -> None:
            (self.root / "scripts").mkdir(parents=True, exist_ok=True)
            (self.root / "scripts" / "echo.yaml").write_text(E2E_SCRIPT)
            shutil.copy(TOYS, self.root / "server.py")
            (self.root / "agentform.yaml").write_text(e2e_spec(self.root, rt.PROJECT))

        async def wait_ready(self, replicas: int, timeout: float = 60.0) -> None:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                agents = (await self.status())["agents"]
                if len(agents) == 2 and all(a["running"] >= replicas for a in agents):
                    return
                await asyncio.sleep(0.2)
            raise rt.RuntimeMisbehaved("the two agents were not ready")

        async def _on_event(self, msg: Any) -> None:
            event = json.loads(msg.data)
            if event.get("kind") == "status" and event.get("status") not in TERMINAL:
                return  # working, or input-required (then the task never ends: a timeout)
            await super()._on_event(msg)

        async def send(self, agent: str, text: str, task_id: str) -> float:
            """Submit through the control API, many a request (``rt.Project.submit_batched``,
            to any agent); returns when the request was sent."""
            loop = asyncio.get_running_loop()
            self.waiters[task_id] = loop.create_future()
            started = time.perf_counter()
            accepted: asyncio.Future[None] = loop.create_future()
            self.outbox.append(({"agent": agent, "input": text, "id": task_id}, accepted))
            if len(self.outbox) == 1:
                loop.call_soon(self._send_outbox)
            await accepted
            return started

        async def task(self, task_id: str) -> dict[str, Any]:
            assert self.http is not None
            response = await self.http.get(f"/v1/tasks/{task_id}")
            response.raise_for_status()
            return dict(response.json())

    async def pids(project: Project, agent: str) -> dict[str, list[int]]:
        status = await project.status()
        [found] = [a for a in status["agents"] if a["agent"] == agent]
        workers = [int(w["pid"]) for w in found["workers"] if w["alive"]]
        return {
            "worker": workers,
            "mcp server": [c for w in workers for c in children_of(w)],
            "engine": [int(status["pid"])],
            "nats-server": [int(status["bus"]["nats_pid"])],
        }

    async def check(project: Project, agent: str) -> None:
        """One task: completed, with the tool's answer, the decision recorded as expected."""
        task_id = rt.make_id()
        await project.send(agent, "check", task_id)
        await asyncio.wait_for(project.waiters[task_id], 60)
        task = await project.task(task_id)
        if task["status"] != "completed" or task.get("result") != "toys:check":
            raise rt.RuntimeMisbehaved(f"{agent}: {task['status']} {task.get('result')!r}")
        calls = [s for s in task.get("steps") or [] if s["kind"] == "tool_call"]
        decisions = [c["data"].get("decision") for c in calls]
        want = [None] if agent == "plain" else [{"effect": "allow", "policies": ["ledger-allowed"]}]
        got = [d and {"effect": d["effect"], "policies": d["policies"]} for d in decisions]
        if got != want:
            raise rt.RuntimeMisbehaved(f"{agent}: tool calls {got}, expected {want}")
        if agent == "governed":  # the conditions are live: the one that holds denies
            task_id = rt.make_id()
            await project.send(agent, "never-01", task_id)
            await asyncio.wait_for(project.waiters[task_id], 60)
            result = (await project.task(task_id)).get("result") or ""
            if "denied by policy 'never-01'" not in result:
                raise rt.RuntimeMisbehaved(f"governed, text never-01: {result!r}")

    async def throughput(project: Project, agent: str) -> dict[str, Any]:
        group = await pids(project, agent)
        cpu_before = {k: sum(map(rt.cpu_seconds, v)) for k, v in group.items()}
        ids = [rt.make_id() for _ in range(tasks)]
        queue = iter(ids)

        async def lane() -> None:
            for task_id in queue:
                await project.send(agent, "hi", task_id)
                await asyncio.wait_for(project.waiters[task_id], 120)

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(in_flight)))
        wall = time.perf_counter() - started
        cpu = {k: sum(map(rt.cpu_seconds, v)) - cpu_before[k] for k, v in group.items()}
        return {"per_s": round(tasks / wall, 1), "wall_s": round(wall, 3), "cpu_s": cpu}

    async def latency(project: Project, agent: str) -> list[float]:
        samples = []
        for _ in range(latency_n):
            task_id = rt.make_id()
            started = await project.send(agent, "hi", task_id)
            samples.append((await asyncio.wait_for(project.waiters[task_id], 60) - started) * 1e3)
        return samples

    sides = ("plain", "governed")
    out: dict[str, Any] = {"tasks": tasks, "in_flight": in_flight, "latency_n": latency_n}
    with tempfile.TemporaryDirectory(prefix="bench-policy-") as tmp:
        root = Path(tmp).resolve()
        project = Project(root, cli)
        try:
            project.write(1)
            out["validate"] = (
                (await asyncio.to_thread(project.run_cli, "validate", str(root)))
                .strip()
                .splitlines()[-1]
            )
            out["apply_s"] = round(await project.apply(1), 2)
            for agent in sides:  # warm up: MCP sessions, first renders, the decision cache
                await check(project, agent)
                await latency(project, agent)
                await throughput(project, agent)
            per_round: dict[str, list[dict[str, Any]]] = {agent: [] for agent in sides}
            samples: dict[str, list[float]] = {agent: [] for agent in sides}
            for r in range(rounds):
                for agent in sides:
                    figures = await throughput(project, agent)
                    ms = await latency(project, agent)
                    samples[agent] += ms
                    figures["p50_ms_1_in_flight"] = round(statistics.median(ms), 2)
                    figures["load"] = rt.loadavg()
                    per_round[agent].append(figures)
                    print(
                        f"  round {r + 1} {agent:<8} {figures['per_s']:7.1f} tasks/s"
                        f"  worker {figures['cpu_s']['worker'] / tasks * 1e3:.3f} ms/task"
                        f"  p50 {figures['p50_ms_1_in_flight']:.2f} ms  load {figures['load']}",
                        file=sys.stderr,
                        flush=True,
                    )
            for agent in sides:
                await check(project, agent)
            if project.failed:
                raise rt.RuntimeMisbehaved(f"{len(project.failed)} tasks did not complete")
            out["rounds"] = per_round
            for agent, runs in per_round.items():
                out[agent] = {  # medians over the rounds; latency and CPU over all the tasks
                    "per_s": round(statistics.median(r["per_s"] for r in runs), 1),
                    "p50_ms_1_in_flight": round(statistics.median(samples[agent]), 2),
                    "p99_ms_1_in_flight": round(rt.pct(samples[agent], 99), 2),
                    "cpu_ms": {
                        k: round(sum(r["cpu_s"][k] for r in runs) / (tasks * rounds) * 1e3, 3)
                        for k in runs[0]["cpu_s"]
                    },
                }
        finally:
            await project.close()
            out["teardown"] = await asyncio.to_thread(project.teardown)
            deadline = time.monotonic() + 5
            while (left := processes_of(root)) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            for pid, _ in left:  # ours: started by this run's apply
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            out["leftovers"] = [f"{pid}: {cmd}" for pid, cmd in left]
    plain, governed = out["plain"], out["governed"]
    ratios = [
        g["per_s"] / p["per_s"]
        for p, g in zip(out["rounds"]["plain"], out["rounds"]["governed"], strict=True)
    ]
    out["decision_us_in_process"] = e2e_decision_us()
    out["difference"] = {
        # each round's governed/plain (the two ran back to back), the median of those
        "per_s_pct": round((statistics.median(ratios) - 1) * 100, 1),
        "per_s_pct_rounds": [round((r - 1) * 100, 1) for r in ratios],
        "plain_faster_rounds": sum(r < 1 for r in ratios),
        "ms_per_task_wall": round(1000 / governed["per_s"] - 1000 / plain["per_s"], 3),
        "worker_cpu_ms_per_task": round(
            governed["cpu_ms"]["worker"] - plain["cpu_ms"]["worker"], 3
        ),
        "p50_ms_1_in_flight": round(
            governed["p50_ms_1_in_flight"] - plain["p50_ms_1_in_flight"], 2
        ),
    }
    return out


def e2e_table(res: dict[str, Any]) -> str:
    rows = [
        f"| agent | tasks/s, median ({res['tasks']} tasks, {res['in_flight']} in flight; each"
        " round) | 1 in flight: p50 / p99 | CPU ms a task: worker / MCP server / engine / nats |",
        "|---|---|---|---|",
    ]
    for agent, label in (("plain", "no policy"), ("governed", f"{E2E_POLICIES} policies")):
        figures, runs = res[agent], res["rounds"][agent]
        cpu = figures["cpu_ms"]
        each = ", ".join(f"{r['per_s']:,.0f}" for r in runs)
        rows.append(
            f"| {label} | **{figures['per_s']:,.1f}** ({each}) "
            f"| {figures['p50_ms_1_in_flight']:.2f} / {figures['p99_ms_1_in_flight']:.2f} ms "
            f"| {cpu['worker']:.3f} / {cpu['mcp server']:.3f} / {cpu['engine']:.3f}"
            f" / {cpu['nats-server']:.3f} |"
        )
    diff = res["difference"]
    rounds = len(diff["per_s_pct_rounds"])
    rows.append(
        f"| difference | **{diff['per_s_pct']:+.1f} %** (median of the rounds' governed/plain;"
        f" plain faster in {diff['plain_faster_rounds']} of {rounds}) "
        f"| p50 {diff['p50_ms_1_in_flight']:+.2f} ms "
        f"| worker **{diff['worker_cpu_ms_per_task']:+.3f}** |"
    )
    return "\n".join(rows) + (
        f"\none governed decision in-process (decide + args digest):"
        f" {res['decision_us_in_process']} µs; each round's difference:"
        f" {', '.join(f'{x:+.1f} %' for x in diff['per_s_pct_rounds'])}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["decisions", "e2e"], help="run one part (default both)")
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--tasks", type=int, default=500, help="e2e: tasks a throughput run")
    parser.add_argument("--rounds", type=int, default=8, help="e2e: rounds (plain, governed)")
    parser.add_argument("--in-flight", type=int, default=16, help="e2e: tasks in flight")
    parser.add_argument("--latency-n", type=int, default=100, help="e2e: tasks one at a time")
    parser.add_argument(
        "--cli", type=Path, default=Path(sys.executable).parent / "agentform", help="agentform CLI"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    status = 0
    report: dict[str, Any] = {"load_before": [round(x, 2) for x in os.getloadavg()]}
    if args.only != "e2e":
        results = [measure(int(n), args.calls) for n in args.sizes.split(",")]
        report["decisions"] = results
        print("| policies | of them on the tool | µs a decision (min–max) | decisions/s |")
        print("|---|---|---|---|")
        for r in results:
            print(
                f"| {r['policies']:,} | {r['governing_the_tool']} | {r['us_per_decision']} "
                f"({r['min_us']}–{r['max_us']}) | {r['decisions_per_s']:,} |"
            )
        hundred = next((r for r in results if r["policies"] == 100), None)
        if args.check and hundred is not None:
            ok = hundred["us_per_decision"] < TARGET_US
            print(
                f"{'PASS' if ok else 'FAIL'}  100 policies: {hundred['us_per_decision']} µs "
                f"< {TARGET_US:g} µs"
            )
            status = 0 if ok else 1
    if args.only != "decisions":
        print("end to end (apply, then rounds of plain, governed) ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            e2e = asyncio.run(
                e2e_measure(args.cli, args.tasks, args.rounds, args.in_flight, args.latency_n)
            )
        except Exception as exc:  # the runtime misbehaved (teardown has run)
            print(f"end to end: the runtime misbehaved: {exc}", file=sys.stderr)
            return 2
        e2e["elapsed_s"] = round(time.perf_counter() - started, 1)
        report["e2e"] = e2e
        print(e2e_table(e2e))
        if e2e["leftovers"]:
            print("LEFTOVER PROCESSES (killed):", *e2e["leftovers"], sep="\n  ")
            status = 2
    report["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print(f"load average before {report['load_before']}, after {report['load_after']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
