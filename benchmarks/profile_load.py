"""Profile ``load_spec`` on a generated spec: cProfile hot spots, or wall time per phase.

Usage: python benchmarks/profile_load.py [--agents 10000] [--top 25] [--save FILE.prof]
       python benchmarks/profile_load.py --phases [--agents 10000]

Generates the spec under ``benchmarks/out/agents-N`` when it is missing and loads a small,
different spec first so the loader's lazy imports (jinja2, apscheduler) are not counted. Then
either runs ``load_spec`` once under cProfile and prints the top entries sorted by cumulative
and by own time (tottime), or, with ``--phases``, runs it without a profiler (whose overhead
inflates pure-Python code ~2x) and prints the wall time of each stage and of each check,
measured by wrapping the loader's stages in-process (the package is not modified). Standard
library + agentform only.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate_spec import write_spec  # noqa: E402

# (module, attribute) of the loader's stages, as build_spec calls them
_STAGES = [
    ("agentform.spec.loader", "read_spec"),
    ("agentform.spec.loader", "apply_overlay"),
    ("agentform.spec.loader", "_resolve_variables"),
    ("agentform.spec.loader", "interpolate"),
    ("agentform.spec.loader", "validate_document"),
    ("agentform.spec.loader", "_file_references"),
    ("agentform.spec.loader", "run_checks"),
    ("agentform.spec.loader", "_finish"),
]
_CHECK_MODULES = ["names", "references", "coordination", "governance", "memory"]


def _timed(label: str, fn: Callable[..., Any], into: dict[str, float]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            into[label] = into.get(label, 0.0) + time.perf_counter() - start

    return wrapper


def phases(spec_dir: Path) -> None:
    import importlib

    from agentform.spec import load_spec

    stages: dict[str, float] = {}
    checks: dict[str, float] = {}
    for module_name, attr in _STAGES:
        module = importlib.import_module(module_name)
        if hasattr(module, attr):
            setattr(module, attr, _timed(attr, getattr(module, attr), stages))
        else:
            print(f"(stage {module_name}.{attr} not found: not timed)")
    for name in _CHECK_MODULES:
        module = importlib.import_module(f"agentform.spec.checks.{name}")
        module.CHECKS[:] = [
            _timed(f"{name}.{check.__name__}", check, checks) for check in module.CHECKS
        ]
    start = time.perf_counter()
    result = load_spec(spec_dir)
    total = time.perf_counter() - start
    print(f"load_spec({spec_dir}): ok={result.ok}, {len(result.diagnostics)} diagnostics")
    print(f"\n{'stage':<40} {'seconds':>8} {'share':>6}")
    for label, seconds in [*stages.items(), ("(total)", total)]:
        print(f"{label:<40} {seconds:8.3f} {seconds / total:6.1%}")
    print(f"\n{'check (inside run_checks)':<40} {'seconds':>8} {'share':>6}")
    for label, seconds in sorted(checks.items(), key=lambda item: -item[1]):
        print(f"{label:<40} {seconds:8.3f} {seconds / total:6.1%}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--top", type=int, default=25, help="rows per table (default 25)")
    parser.add_argument("--save", type=Path, help="also write the raw profile here")
    parser.add_argument("--phases", action="store_true", help="wall time per stage, no cProfile")
    args = parser.parse_args(argv)

    spec_dir = HERE / "out" / f"agents-{args.agents}"
    if not (spec_dir / "agentform.yaml").is_file():
        write_spec(args.agents, spec_dir, args.seed)

    from agentform.spec import load_spec

    # the loader imports jinja2 and apscheduler lazily: load a small, different spec first so
    # the profile shows loading, not importing (and the lru_caches hold nothing of the big spec)
    warmup = HERE / "out" / "warmup"
    write_spec(20, warmup, 12345)
    load_spec(warmup)

    if args.phases:
        phases(spec_dir)
        return 0
    profiler = cProfile.Profile()
    profiler.enable()
    result = load_spec(spec_dir)
    profiler.disable()
    print(f"load_spec({spec_dir}): ok={result.ok}, {len(result.diagnostics)} diagnostics")
    if args.save:
        profiler.dump_stats(args.save)
    for key in ("cumulative", "tottime"):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.strip_dirs().sort_stats(key).print_stats(args.top)
        print(f"\n===== sorted by {key} =====")
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
