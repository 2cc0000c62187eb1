"""Fast starts (issue 19, item 3): workers forked by the engine's fork server against workers
started as new interpreters, side by side in one run.

Two modes, interleaved round by round: ``fork`` (the default: the engine's fork server,
``agentform/runtime/host/forks.py``) and ``exec`` (``AGENTFORM_WORKER_START=exec``: every worker
is ``python -m agentform.runtime worker``, as before). In each round and mode, in a fresh copy of
``examples/support-desk`` in a temp dir:

* **apply to first answer**: ``agentform apply --auto-approve`` (the engine, its nats-server,
  the store, 15 resources, the triage and billing agents, which start the example's stdio MCP
  servers), then a first task to ``triage`` through the control API until it has completed;
  the apply and the answer are timed apart and together;
* **worker ready**: ``--n`` rollouts of an agent (a PUT of its values with new instructions
  through the control API, which returns once a worker of the new configuration heartbeats
  ready); the figure is the new worker's ``ready_after`` in ``agentform status`` (its spawn to
  its first ready heartbeat, measured by the engine) and the PUT's wall time. For ``triage``
  (one MCP tool server: the example's ``kb``, whose own interpreter start is most of it) and for
  ``plain``, an agent without tools added for the measurement (the runtime's own cost);
* **apply research-crew**: ``agentform apply --auto-approve`` of ``examples/research-crew`` (five
  agents, each with its MCP tool servers), until every agent has a ready worker.

    .venv/bin/python benchmarks/bench_apply.py [--rounds 3] [--n 10] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agentform.runtime.host.client import EngineClient, engine_dir

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "support-desk"
CREW = ROOT / "examples" / "research-crew"
CLI = Path(sys.executable).parent / "agentform"
MODES = ("exec", "fork")
INPUTS = {"customer": {"name": "Ada", "id": "C-7", "plan": "pro"}}
PLAIN = {"model": "degraded", "instructions": "Answer politely."}


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _cli(directory: Path, env: dict[str, str], *args: str) -> float:
    began = time.perf_counter()
    done = subprocess.run(
        [str(CLI), *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"agentform {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - began


def _answer(client: EngineClient) -> float:
    began = time.perf_counter()
    task = client.request(
        "POST",
        "/v1/tasks",
        body={"agent": "triage", "input": "How do I reset my robot?", "inputs": INPUTS},
    )
    while True:
        found = client.request("GET", f"/v1/tasks/{task['id']}")
        if found["status"] == "completed":
            return time.perf_counter() - began
        if found["status"] in ("failed", "canceled", "rejected"):
            raise RuntimeError(f"the first task ended {found['status']}: {found.get('error')}")
        time.sleep(0.01)


def _ready_after(client: EngineClient, agent: str, config_hash: str) -> float:
    status = client.request("GET", "/v1/status")
    [group] = [a for a in status["agents"] if a["agent"] == agent]
    for worker in group["workers"]:
        if worker["config_hash"] == config_hash and worker["ready_after"] is not None:
            return float(worker["ready_after"])
    raise RuntimeError(f"no ready worker of {agent} runs configuration {config_hash[:12]}")


def _roll(client: EngineClient, workdir: Path, agent: str, n: int) -> tuple[list[float], ...]:
    """``n`` rollouts of ``agent``: the new workers' ready_after and the PUTs' wall times."""
    ready, puts = [], []
    for round_ in range(n):
        values = json.loads((workdir / "resources.json").read_text())[f"agent.{agent}"]
        values["instructions"] = f"{values['instructions'].split(' [round')[0]} [round {round_}]"
        began = time.perf_counter()
        client.request("PUT", f"/v1/resources/agent.{agent}", body={"values": values})
        puts.append(time.perf_counter() - began)
        status = client.request("GET", "/v1/status")
        [group] = [a for a in status["agents"] if a["agent"] == agent]
        ready.append(_ready_after(client, agent, group["config_hash"]))
        # the old worker is stopped in the background: let it go before the next round
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = client.request("GET", "/v1/status")
            [group] = [a for a in status["agents"] if a["agent"] == agent]
            if len(group["workers"]) == 1:
                break
            time.sleep(0.05)
    return ready, puts


def _copy(example: Path, tmp: str) -> tuple[Path, EngineClient]:
    directory = Path(tmp) / example.name
    shutil.copytree(example, directory, ignore=shutil.ignore_patterns(".agentform"))
    return directory, EngineClient(engine_dir(directory))


def _destroy(directory: Path, client: EngineClient, env: dict[str, str]) -> None:
    subprocess.run(
        [str(CLI), "destroy", "--auto-approve", "--allow-data-loss"],
        cwd=directory,
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )
    if client.running():
        client.stop(timeout=30)


def run(mode: str, n: int) -> dict[str, Any]:
    env = {**os.environ, "NO_COLOR": "1", "AGENTFORM_WORKER_START": mode}
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix=f"bench-apply-{mode}-") as tmp:
        directory, client = _copy(EXAMPLE, tmp)
        try:
            apply = _cli(directory, env, "apply", "--auto-approve")
            answer = _answer(client)
            client.request("PUT", "/v1/resources/agent.plain", body={"values": PLAIN})
            workdir = engine_dir(directory)
            result.update(apply_s=apply, first_answer_s=answer, apply_to_answer_s=apply + answer)
            for agent in ("plain", "triage"):
                ready, puts = _roll(client, workdir, agent, n)
                forked = {
                    w["forked"]
                    for a in client.request("GET", "/v1/status")["agents"]
                    for w in a["workers"]
                }
                if forked != {mode == "fork"}:
                    raise RuntimeError(f"mode {mode}: workers forked {forked}")
                result[f"{agent}_ready_s"] = ready
                result[f"{agent}_rollout_s"] = puts
        finally:
            _destroy(directory, client, env)
        directory, client = _copy(CREW, tmp)
        try:
            result["crew_apply_s"] = _cli(directory, env, "apply", "--auto-approve")
            agents = client.request("GET", "/v1/status")["agents"]
            if len(agents) != 5 or any(a["running"] < 1 for a in agents):
                raise RuntimeError(f"research-crew is not running after apply: {agents}")
        finally:
            _destroy(directory, client, env)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both modes, interleaved")
    parser.add_argument("--n", type=int, default=10, help="rollouts per agent per round")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    before = loadavg()
    samples: dict[str, dict[str, list[float]]] = {mode: {} for mode in MODES}
    for round_ in range(args.rounds):
        for mode in MODES if round_ % 2 == 0 else tuple(reversed(MODES)):
            for key, value in run(mode, args.n).items():
                samples[mode].setdefault(key, []).extend(
                    value if isinstance(value, list) else [value]
                )
            print(f"round {round_ + 1} {mode} done (load {loadavg()})", file=sys.stderr)
    summary = {
        mode: {key: round(statistics.median(values), 3) for key, values in figures.items()}
        for mode, figures in samples.items()
    }
    rows = [
        ("worker ready, no tools (spawn -> ready heartbeat)", "plain_ready_s"),
        ("rollout of it (PUT -> new worker ready)", "plain_rollout_s"),
        ("worker ready, triage (+ kb MCP server)", "triage_ready_s"),
        ("rollout of triage", "triage_rollout_s"),
        ("apply support-desk", "apply_s"),
        ("first answer after apply", "first_answer_s"),
        ("apply to first answer", "apply_to_answer_s"),
        ("apply research-crew (5 agents, every worker ready)", "crew_apply_s"),
    ]
    print(f"{'median, seconds':<52}{'exec':>9}{'fork':>9}")
    for label, key in rows:
        print(f"{label:<52}{summary['exec'][key]:>9.3f}{summary['fork'][key]:>9.3f}")
    counts = {key: len(values) for key, values in samples["fork"].items()}
    print(f"samples per mode: {counts}; load {before} -> {loadavg()}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"summary": summary, "samples": samples, "load": [before, loadavg()]})
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
