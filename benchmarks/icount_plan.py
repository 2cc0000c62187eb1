"""Instructions per plan: set a no-change plan of SIZE resources up, then run observe + make_plan
N times. Run under callgrind with N = 0 and N = 3; the difference / 3 is one plan:

    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.10000.3.out \
        .venv/bin/python benchmarks/icount_plan.py 10000 3
"""
import sys, tempfile
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
import benchmarks.bench_plan as bp
import agentform.plan as P
from agentform.state import open_store
size, n = int(sys.argv[1]), int(sys.argv[2])
desired = bp.desired_set(size)
with tempfile.TemporaryDirectory() as tmp, open_store(None, bp.PROJECT, bp.ENV, tmp) as store:
    provider, _ = bp.seed_state_and_provider(desired, store)
    recorded = store.read()
    kinds = {r.kind for r in recorded.resources.values()}
    for _ in range(n):
        observed = P.observe(provider, kinds, recorded)
        plan = P.make_plan(desired, recorded, observed)
        assert not plan.has_changes
