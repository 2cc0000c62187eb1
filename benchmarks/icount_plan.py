"""Instructions per plan: set a no-change plan of SIZE resources up, then run observe + make_plan
N times. Run under callgrind with N = 0 and N = 3; the difference / 3 is one plan:

    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.10000.3.out \\
        .venv/bin/python benchmarks/icount_plan.py 10000 3
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import benchmarks.bench_plan as bp
from agentform import plan as planning
from agentform.state import open_store


def main(size: int, runs: int) -> None:
    desired = bp.desired_set(size)
    with tempfile.TemporaryDirectory() as tmp, open_store(None, bp.PROJECT, bp.ENV, tmp) as store:
        provider, _ = bp.seed_state_and_provider(desired, store)
        recorded = store.read()
        assert recorded is not None
        kinds = {r.kind for r in recorded.resources.values()}
        for _ in range(runs):
            observed = planning.observe(provider, kinds, recorded)
            if planning.make_plan(desired, recorded, observed).has_changes:
                raise SystemExit("the plan is not empty; the set-up is wrong")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
