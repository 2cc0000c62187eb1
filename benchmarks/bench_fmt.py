"""Benchmark ``agentform fmt``: how long ``format_text`` takes on a large (7.3 MB) spec file.

Usage (from the repository root; same arguments, same bytes, so runs are comparable)::

    .venv/bin/python benchmarks/bench_fmt.py            # 30,000 agents (7.3 MB), median of 3
    .venv/bin/python benchmarks/bench_fmt.py --check    # exit 1 if the median misses the target
    .venv/bin/python benchmarks/bench_fmt.py --agents 3000 --runs 5

Generates in memory the "five megabyte" spec that ``tests/spec/test_fmt.py`` formats for
correctness (> 5,000,000 characters; 7.3 MB, 240,002 lines at 30,000 agents): one ``agents``
mapping whose entries carry an end-of-line comment, a ``|`` block scalar, keys out of canonical
order, flow collections and a block sequence not indented under its key, then ``version: 1``
last, so every entry is re-indented and reordered. Formats a small spec first so imports and
first-call costs are not counted, then times ``format_text`` on the big one ``--runs`` times in
this process with :func:`time.perf_counter` and prints every sample, the median and the
throughput. It also checks the result (untimed): every run gives the same output and formatting
that output again changes nothing; otherwise it exits 2.

Target, enforced by ``--check`` (exit 1): the median stays under ``TARGET_SECONDS``, the bound
the unit test used to assert. The machine is shared, so expect some spread between runs.
Standard library + agentform only.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

from agentform.spec.fmt import format_text

TARGET_SECONDS = 60.0
DEFAULT_AGENTS = 30_000
DEFAULT_RUNS = 3

_AGENT = (
    "  a{i}:  # agent {i}\n"
    "      instructions: |\n"
    "          You are agent {i}; greet {{{{ customer.name }}}} on ${{var.tier}}.\n"
    "      model: fast\n"
    "      tools: [kb, refunds]\n"
    "      limits: {{timeout: 5m, max_steps: 20}}\n"
    "      memory:\n"
    "      - conversations\n"
)


def make_spec(agents: int) -> str:
    """The spec of ``test_a_five_megabyte_spec_is_formatted_and_idempotent`` with N agents."""
    return "agents:\n" + "".join(_AGENT.format(i=i) for i in range(agents)) + "version: 1\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time agentform fmt on a large spec.")
    parser.add_argument("--agents", type=int, default=DEFAULT_AGENTS, help="default: 30000")
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="default: 3")
    parser.add_argument("--check", action="store_true", help=f"exit 1 if > {TARGET_SECONDS} s")
    args = parser.parse_args(argv)

    source = make_spec(args.agents)
    format_text(make_spec(10))  # warm-up
    samples: list[float] = []
    first = ""
    for run in range(args.runs):
        started = time.perf_counter()
        formatted = format_text(source)
        seconds = time.perf_counter() - started
        samples.append(seconds)
        print(f"run {run + 1}: {seconds:.3f} s", flush=True)
        if run == 0:
            first = formatted
            if format_text(formatted) != formatted:
                print("error: the output changes when it is formatted again", file=sys.stderr)
                return 2
        elif formatted != first:
            print("error: two runs gave different output", file=sys.stderr)
            return 2

    median = statistics.median(samples)
    megabytes = len(source.encode()) / 1e6
    print(
        f"\nformat_text, {args.agents:,} agents ({megabytes:.2f} MB, "
        f"{source.count(chr(10)):,} lines): median of {len(samples)} = {median:.3f} s "
        f"(min {min(samples):.3f}, max {max(samples):.3f}; {megabytes / median:.2f} MB/s)"
    )
    print(f"Python {platform.python_version()} on {platform.machine()}, {platform.system()}")
    if args.check:
        ok = median < TARGET_SECONDS
        print(f"target: median < {TARGET_SECONDS:.0f} s: {'pass' if ok else 'FAIL'}")
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
