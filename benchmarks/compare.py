"""Before and after in one run: the same benchmarks on two commits, interleaved, side by side.

Usage: .venv/bin/python benchmarks/compare.py OLD [NEW] [--rounds 2]
       [--only plan,validate,runtime|store] [--scripts own|here] [--args "ARGS"]

Checks OLD and NEW (default HEAD) out as git worktrees under ``benchmarks/out/compare/``, then for
each round runs, old side then new side, ``bench_plan.py``, ``bench_validate.py`` and
``bench_runtime.py --quick`` (and with ``--only store``, ``profile_store.py``), each side's own
copy of the script with ``PYTHONPATH`` on its own checkout (the ``agentform`` CLI, the engine and
the workers the scripts start inherit it), with this repository's interpreter. ``--scripts here``
runs this checkout's copy of each script on both sides instead (a benchmark fixed or extended
after OLD and NEW were committed, measuring the code of each side: it must then work with both).
``--args`` replaces a benchmark's default arguments (``--quick`` for the runtime), e.g. ``--only
runtime --args "--only bus --tasks 6000"``. Every result is kept as JSON
(``<bench>-<side>-<round>.json``), with the load average before each run (``loads.json``); the
summary prints each numeric figure's median over the rounds for both sides and new/old (a figure
only one side has, with "-" for the other). Standard library only. Run it on a quiet machine:
nothing else should be measured meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "compare"
BENCHES = {
    "plan": ["benchmarks/bench_plan.py"],
    "validate": ["benchmarks/bench_validate.py"],
    "runtime": ["benchmarks/bench_runtime.py", "--quick"],
    "store": ["benchmarks/profile_store.py"],  # not in the default set
}
DEFAULT = "plan,validate,runtime"


def checkout(commit: str, side: str) -> Path:
    path = OUT / side
    if path.exists():
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=True)
    subprocess.run(["git", "worktree", "add", "--detach", str(path), commit], cwd=ROOT, check=True)
    modules = ROOT / "tests" / "runtime" / "node_modules"
    if modules.exists():
        (path / "tests" / "runtime" / "node_modules").symlink_to(modules)
    return path


def run(
    bench: str, tree: Path, result: Path, *, here: bool = False, args: list[str] | None = None
) -> None:
    env = dict(os.environ, PYTHONPATH=f"{tree}{os.pathsep}{tree / 'providers'}")
    script, *default = BENCHES[bench]
    if here:
        script = str(ROOT / script)
    command = [sys.executable, script, *(default if args is None else args), "--json", str(result)]
    print(f"== {bench} in {tree.name}: {' '.join(command[1:])}", flush=True)
    subprocess.run(command, cwd=tree, env=env, check=False)


def flatten(value: Any, prefix: str = "") -> dict[str, float]:
    """Every number in a result, by its path; a list of numbers becomes its median."""
    if isinstance(value, bool):
        return {}
    if isinstance(value, int | float):
        return {prefix: float(value)}
    if isinstance(value, dict):
        out: dict[str, float] = {}
        for key, item in value.items():
            out |= flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(value, list):
        if value and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            return {prefix: float(statistics.median(value))}
        out = {}
        for i, item in enumerate(value):
            out |= flatten(item, f"{prefix}[{i}]")
        return out
    return {}


def summary(bench: str, rounds: int) -> None:
    sides: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
    for side, figures in sides.items():
        for r in range(1, rounds + 1):
            path = OUT / f"{bench}-{side}-{r}.json"
            if not path.exists():
                continue
            for key, number in flatten(json.loads(path.read_text())).items():
                figures.setdefault(key, []).append(number)
    print(f"\n## {bench}: median over {rounds} rounds\n")
    print("| figure | old | new | new/old |\n|---|---|---|---|")
    for key in sorted(set(sides["old"]) | set(sides["new"])):
        found = [statistics.median(s[key]) if key in s else None for s in sides.values()]
        old, new = found
        ratio = f"{new / old:.2f}" if old and new is not None else "-"
        shown = ["-" if x is None else f"{x:.4g}" for x in found]
        print(f"| {key} | {shown[0]} | {shown[1]} | {ratio} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new", nargs="?", default="HEAD")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", default=DEFAULT, help=f"of {','.join(BENCHES)}")
    parser.add_argument(
        "--scripts",
        choices=["own", "here"],
        default="own",
        help="each side's own copy of the benchmark (default), or this checkout's on both",
    )
    parser.add_argument("--args", help="the benchmarks' arguments instead of their defaults")
    args = parser.parse_args()
    benches = [b for b in args.only.split(",") if b]
    extra = shlex.split(args.args) if args.args is not None else None
    OUT.mkdir(parents=True, exist_ok=True)
    for bench in benches:  # an earlier run's results must not stand in for a failed one
        for stale in OUT.glob(f"{bench}-*-*.json"):
            stale.unlink()
    trees = {"old": checkout(args.old, "old"), "new": checkout(args.new, "new")}
    loads: list[dict[str, Any]] = []
    commits = {
        side: subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=tree, capture_output=True, text=True, check=True
        ).stdout.strip()
        for side, tree in trees.items()
    }
    print(f"old {commits['old']}, new {commits['new']}", flush=True)
    try:
        for r in range(1, args.rounds + 1):
            for bench in benches:
                for side, tree in trees.items():
                    load = [round(x, 2) for x in os.getloadavg()]
                    print(f"   load average before: {load}", flush=True)
                    loads.append({"round": r, "bench": bench, "side": side, "load": load})
                    result = OUT / f"{bench}-{side}-{r}.json"
                    run(bench, tree, result, here=args.scripts == "here", args=extra)
                    (OUT / "loads.json").write_text(
                        json.dumps({"commits": commits, "runs": loads}, indent=1)
                    )
    finally:
        for tree in trees.values():  # the results stay; the checkouts go
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False
            )
    for bench in benches:
        summary(bench, args.rounds)


if __name__ == "__main__":
    main()
