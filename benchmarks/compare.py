"""Before and after in one run: the same benchmarks on two commits, interleaved, side by side.

Usage: .venv/bin/python benchmarks/compare.py OLD [NEW] [--rounds 2] [--only plan,validate,runtime]

Checks OLD and NEW (default HEAD) out as git worktrees under ``benchmarks/out/compare/``, then for
each round runs, old side then new side, ``bench_plan.py``, ``bench_validate.py`` and
``bench_runtime.py --quick``, each side's own copy of the script with ``PYTHONPATH`` on its own
checkout (the ``agentform`` CLI, the engine and the workers the scripts start inherit it), with
this repository's interpreter. Every result is kept as JSON (``<bench>-<side>-<round>.json``);
the summary prints each numeric figure's median over the rounds for both sides and new/old.
Standard library only. Run it on a quiet machine: nothing else should be measured meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
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
}


def checkout(commit: str, side: str) -> Path:
    path = OUT / side
    if path.exists():
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=True)
    subprocess.run(["git", "worktree", "add", "--detach", str(path), commit], cwd=ROOT, check=True)
    modules = ROOT / "tests" / "runtime" / "node_modules"
    if modules.exists():
        (path / "tests" / "runtime" / "node_modules").symlink_to(modules)
    return path


def run(bench: str, tree: Path, result: Path) -> None:
    env = dict(os.environ, PYTHONPATH=f"{tree}{os.pathsep}{tree / 'providers'}")
    command = [sys.executable, *BENCHES[bench], "--json", str(result)]
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
    for key in sorted(set(sides["old"]) & set(sides["new"])):
        old = statistics.median(sides["old"][key])
        new = statistics.median(sides["new"][key])
        ratio = f"{new / old:.2f}" if old else "-"
        print(f"| {key} | {old:.4g} | {new:.4g} | {ratio} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new", nargs="?", default="HEAD")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", default=",".join(BENCHES))
    args = parser.parse_args()
    benches = [b for b in args.only.split(",") if b]
    OUT.mkdir(parents=True, exist_ok=True)
    trees = {"old": checkout(args.old, "old"), "new": checkout(args.new, "new")}
    try:
        for r in range(1, args.rounds + 1):
            for bench in benches:
                for side, tree in trees.items():
                    run(bench, tree, OUT / f"{bench}-{side}-{r}.json")
    finally:
        for tree in trees.values():  # the results stay; the checkouts go
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False
            )
    for bench in benches:
        summary(bench, args.rounds)


if __name__ == "__main__":
    main()
