"""Memory recall latency: full-text search over 100,000 long-term memories, SQLite and PostgreSQL.

Loads ``--entries`` fact-like memories (deterministic for ``--seed``) into one ``long_term``
store kept per customer, spread over ``--customers`` scope keys (``customer:c00001`` ...), then
times :meth:`agentform.runtime.store.memory.service.Memory.search` in-process and warm:

* **scoped**: ``scope="customer:cNNNNN"``, what an agent's ``recall`` tool does;
* **unscoped**: ``scope=None`` over the whole store, what ``agentform memory search`` does.

Texts and queries draw words from one vocabulary of a few thousand words (common verbs and
nouns, product names, cities, order numbers, and many rare synthetic words) with a Zipf-like
frequency, so some query words match a large part of the store and most match a few entries.
Rows are loaded in bulk with ``insert(items_table)``, 5,000 per transaction; the FTS5 triggers
(SQLite) and the generated ``tsvector`` column (PostgreSQL) index them. PostgreSQL is a
throwaway cluster started for the run (as in ``tests/state/conftest.py``) unless ``--pg-url``.

    .venv/bin/python benchmarks/bench_memory.py --backend all --check \
        --json benchmarks/out/memory.json

Exit status: 0 ok, 1 the scoped p99 target (< 20 ms) missed with ``--check``, 2 setup failed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy import Engine, func, insert, select, text

from agentform.runtime.store.memory.config import StoreConfig
from agentform.runtime.store.memory.service import Memory
from agentform.runtime.store.memory.tables import items_table
from agentform.testing.postgres import throwaway_cluster

OUT = Path(__file__).resolve().parent / "out"
STORE = "facts"
TARGET_P99_MS = 20.0
BATCH = 5000
WARMUP = 50

# -- vocabulary ---------------------------------------------------------------------------------


def _words(spaced: str) -> list[str]:
    return spaced.split()


VERBS = _words(
    "ordered returned asked prefers complained requested cancelled upgraded downgraded renewed"
    " paid refunded called emailed reported mentioned likes dislikes bought shipped received"
    " exchanged reviewed recommended disputed confirmed changed moved subscribed unsubscribed"
    " booked rescheduled missed opened closed escalated praised lost found installed replaced"
    " repaired activated deactivated registered wants needs expects uses tried enjoyed rejected"
)
NOUNS = _words(
    "order invoice refund delivery package parcel address account password subscription plan"
    " warranty discount coupon payment card bank transfer shipment tracking number courier"
    " support ticket agent manager contract renewal trial license seat team office warehouse"
    " store branch receipt charge fee price quote estimate size colour color model version"
    " battery screen cable charger adapter case strap lens filter cartridge toner paper ink"
    " keyboard mouse monitor laptop phone tablet router printer speaker headset camera watch"
    " birthday anniversary holiday weekend morning evening afternoon deadline meeting call"
    " email chat letter complaint feedback survey rating review issue problem defect damage"
    " gift wrap note language preference newsletter loyalty points tier member family child"
    " spouse dog cat allergy diet vegetarian vegan gluten lactose budget currency euro dollar"
)
FILLER = _words(
    "the a an and or but with for to from on in at by of about after before during since"
    " again always never often usually sometimes last next first second third new old same"
    " other every each only early late quickly slowly twice once still already soon again"
    " customer client they she he their his her wrong right broken missing damaged extra"
)
CITIES = _words(
    "Amsterdam Berlin Paris London Madrid Lisbon Rome Milan Vienna Prague Warsaw Krakow"
    " Budapest Athens Dublin Oslo Stockholm Helsinki Copenhagen Brussels Antwerp Zurich"
    " Geneva Munich Hamburg Cologne Frankfurt Lyon Marseille Barcelona Valencia Seville Porto"
    " Naples Turin Florence Bologna Sofia Bucharest Belgrade Zagreb Ljubljana Bratislava Tallinn"
    " Riga Vilnius Reykjavik Edinburgh Glasgow Manchester Liverpool Leeds Bristol Cardiff Belfast"
    " Boston Chicago Denver Austin Seattle Portland Toronto Montreal Vancouver Sydney Melbourne"
    " Auckland Tokyo Osaka Seoul Singapore Mumbai Delhi Dubai Cairo Nairobi Lagos Johannesburg"
)
BRANDS = _words("Zentra Novix Arkon Velto Lumio Quanta Sirrus Brava Kelvo Orbix Tessa Hexo")
SYLLABLES = _words(
    "ka ri to mo na lu be sa vi do pe ra ni zo fu ki la mi te go su ha ye wo ru ba di ne po ju"
)


@dataclass(frozen=True)
class Vocabulary:
    """Words by rank (most common first) and cumulative Zipf weights for sampling."""

    words: tuple[str, ...]
    cum_weights: tuple[float, ...]

    def draw(self, rng: random.Random, k: int) -> list[str]:
        return rng.choices(self.words, cum_weights=self.cum_weights, k=k)


def vocabulary(seed: int, size: int = 4000, exponent: float = 1.0) -> Vocabulary:
    """A fixed word list: domain words first (the common ranks), then product names, cities
    and synthetic rare words, shuffled within bands so ranks mix kinds; weight 1/rank^s."""
    rng = random.Random(seed)
    products = [f"{b} {m}{n}" for b in BRANDS for m in ("X", "Pro", "Air", "Max") for n in (1, 2)]
    products_words = sorted({w.lower() for p in products for w in p.split()})
    common = [w for w in dict.fromkeys(VERBS + NOUNS) if w not in FILLER]
    rng.shuffle(common)
    middle = [c.lower() for c in CITIES] + products_words
    rng.shuffle(middle)
    synthetic: list[str] = []
    seen = set(common) | set(middle)
    while len(common) + len(middle) + len(synthetic) < size:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            synthetic.append(word)
    # interleave: the top ranks are mostly domain words, cities and products come next,
    # the long tail is mostly rare synthetic words (names, jargon, typos)
    ranked = common[:60] + middle[:40] + common[60:] + middle[40:] + synthetic
    weights = [1.0 / (rank**exponent) for rank in range(1, len(ranked) + 1)]
    return Vocabulary(tuple(ranked), tuple(itertools.accumulate(weights)))


def fact(rng: random.Random, vocab: Vocabulary) -> str:
    """One fact-like memory: a verb, a product or order, a city, and 3-12 words of detail."""
    shape = rng.random()
    words = vocab.draw(rng, rng.randint(3, 12))
    detail = " ".join(
        w if rng.random() < 0.6 else f"{rng.choice(FILLER)} {w}" for w in words
    ).capitalize()
    brand = rng.choice(BRANDS)
    product = f"{brand} {rng.choice(('X', 'Pro', 'Air', 'Max'))}{rng.randint(1, 2)}"
    order = f"ORD-{rng.randint(100000, 999999)}"
    city = rng.choice(CITIES)
    verb = rng.choice(VERBS)
    if shape < 0.35:
        return f"Customer {verb} the {product} on order {order}. {detail}."
    if shape < 0.6:
        return f"Ships to {city}; {detail}. Last order {order}."
    if shape < 0.8:
        return f"{detail}. Mentioned the {product} ({city})."
    return f"{detail}."


def query_text(rng: random.Random, vocab: Vocabulary) -> str:
    """2-5 words drawn with the texts' distribution (common and rare words mixed)."""
    return " ".join(vocab.draw(rng, rng.randint(2, 5)))


# -- loading ------------------------------------------------------------------------------------


def customer_key(index: int) -> str:
    return f"customer:c{index:05d}"


def customer_weights(customers: int) -> list[float]:
    # mildly skewed: the busiest customer has a few times the average number of memories
    return list(itertools.accumulate(1.0 / (r**0.5) for r in range(1, customers + 1)))


def load(engine: Engine, *, entries: int, customers: int, seed: int, batch: int) -> float:
    """Insert ``entries`` rows in transactions of ``batch``; returns the seconds taken."""
    rng = random.Random(seed)
    vocab = vocabulary(seed)
    cum = customer_weights(customers)
    keys = [customer_key(i) for i in range(1, customers + 1)]
    now = time.time()
    year = 365 * 86400.0
    started = time.perf_counter()
    done = 0
    while done < entries:
        rows: list[dict[str, Any]] = []
        for _ in range(min(batch, entries - done)):
            body = fact(rng, vocab)
            created = now - rng.random() * year
            rows.append(
                {
                    "store": STORE,
                    "kind": "long_term",
                    "scope": rng.choices(keys, cum_weights=cum)[0],
                    "text": body,
                    "version": 1,
                    "bytes": len(body.encode()),
                    "created_at": created,
                    "updated_at": created,
                }
            )
        with engine.begin() as conn:
            conn.execute(insert(items_table), rows)
        done += len(rows)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    return time.perf_counter() - started


# -- measuring ----------------------------------------------------------------------------------


@dataclass
class Row:
    backend: str
    mode: str
    queries: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_hits: float
    zero_hit_share: float


@dataclass
class Result:
    backend: str
    entries: int
    customers: int
    load_s: float
    largest_customer: int
    rows: list[Row] = field(default_factory=list)


def percentile(sorted_ms: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    index = max(0, min(len(sorted_ms) - 1, math.ceil(q / 100 * len(sorted_ms)) - 1))
    return sorted_ms[index]


def measure(
    memory: Memory, backend: str, *, queries: int, customers: int, seed: int, limit: int
) -> list[Row]:
    rng = random.Random(seed + 1)
    vocab = vocabulary(seed)
    plan: list[tuple[str, str | None]] = []
    for i in range(queries + WARMUP):
        scope = customer_key(rng.randint(1, customers)) if i % 2 == 0 else None
        plan.append((query_text(rng, vocab), scope))
    for q, scope in plan[:WARMUP]:
        memory.search(STORE, q, scope=scope, limit=limit)
    samples: dict[str, list[float]] = {"scoped": [], "unscoped": []}
    hits: dict[str, list[int]] = {"scoped": [], "unscoped": []}
    for q, scope in plan[WARMUP:]:
        started = time.perf_counter()
        found = memory.search(STORE, q, scope=scope, limit=limit)
        elapsed = (time.perf_counter() - started) * 1000
        mode = "scoped" if scope is not None else "unscoped"
        samples[mode].append(elapsed)
        hits[mode].append(len(found))
    rows = []
    for mode in ("scoped", "unscoped"):
        ms = sorted(samples[mode])
        rows.append(
            Row(
                backend=backend,
                mode=mode,
                queries=len(ms),
                p50_ms=round(percentile(ms, 50), 2),
                p90_ms=round(percentile(ms, 90), 2),
                p99_ms=round(percentile(ms, 99), 2),
                max_ms=round(ms[-1], 2),
                mean_hits=round(statistics.fmean(hits[mode]), 2),
                zero_hit_share=round(sum(1 for h in hits[mode] if h == 0) / len(ms), 3),
            )
        )
    return rows


def run_backend(backend: str, url: str, args: argparse.Namespace) -> Result:
    config = StoreConfig.from_values(STORE, {"kind": "long_term", "scope": "customer"})
    memory = Memory(url, {STORE: config}, migrate=True)
    try:
        with memory.engine.begin() as conn:
            conn.execute(items_table.delete().where(items_table.c.store == STORE))
        print(f"[{backend}] loading {args.entries:,} memories ...", file=sys.stderr, flush=True)
        load_s = load(
            memory.engine,
            entries=args.entries,
            customers=args.customers,
            seed=args.seed,
            batch=args.batch,
        )
        with memory.engine.connect() as conn:
            per_scope = (
                select(func.count().label("n"))
                .where(items_table.c.store == STORE)
                .group_by(items_table.c.scope)
                .subquery()
            )
            largest = int(conn.execute(select(func.max(per_scope.c.n))).scalar() or 0)
        print(f"[{backend}] loaded in {load_s:.1f} s; searching ...", file=sys.stderr, flush=True)
        result = Result(backend, args.entries, args.customers, round(load_s, 2), largest)
        result.rows = measure(
            memory,
            backend,
            queries=args.queries,
            customers=args.customers,
            seed=args.seed,
            limit=args.limit,
        )
        return result
    finally:
        memory.close()


# -- output -------------------------------------------------------------------------------------


def table(results: Sequence[Result]) -> str:
    lines = [
        "| backend | load | search | p50 | p90 | p99 | max | mean hits | no hit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        for row in res.rows:
            lines.append(
                f"| {res.backend} | {res.load_s:.1f} s | {row.mode} | {row.p50_ms:.2f} ms"
                f" | {row.p90_ms:.2f} ms | {row.p99_ms:.2f} ms | {row.max_ms:.2f} ms"
                f" | {row.mean_hits:.2f} | {row.zero_hit_share:.1%} |"
            )
    return "\n".join(lines)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # run the finally blocks: stop the cluster, remove its files


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "all"), default="all")
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--queries", type=int, default=2_000, help="half scoped, half not")
    parser.add_argument("--limit", type=int, default=5, help="hits per search (recall's default)")
    parser.add_argument("--batch", type=int, default=BATCH, help="rows per insert transaction")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pg-url", help="use this PostgreSQL instead of a throwaway cluster")
    parser.add_argument("--sqlite-path", type=Path, default=OUT / "memory-bench.db")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--check", action="store_true", help=f"exit 1 if scoped p99 >= {TARGET_P99_MS:g} ms"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)

    backends = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    results: list[Result] = []
    try:
        for backend in backends:
            if backend == "sqlite":
                path = args.sqlite_path.resolve()
                path.parent.mkdir(parents=True, exist_ok=True)
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
                results.append(run_backend(backend, f"sqlite:///{path}", args))
            elif args.pg_url:
                results.append(run_backend(backend, args.pg_url, args))
            else:
                with throwaway_cluster("agentform-bench-pg-") as url:
                    results.append(run_backend(backend, url, args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"setup failed: {exc}", file=sys.stderr)
        return 2

    print(
        f"\n{args.entries:,} long-term memories over {args.customers:,} customers;"
        f" {args.queries:,} searches (limit {args.limit}) after {WARMUP} to warm up;"
        f" {os.cpu_count()} CPUs, Python {platform.python_version()}\n"
    )
    print(table(results))
    for res in results:
        print(f"\n{res.backend}: largest customer holds {res.largest_customer:,} memories")
    missed = [
        r for res in results for r in res.rows if r.mode == "scoped" and r.p99_ms >= TARGET_P99_MS
    ]
    verdict = "missed" if missed else "met"
    print(f"\ntarget scoped p99 < {TARGET_P99_MS:g} ms: {verdict}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "entries": args.entries,
            "customers": args.customers,
            "queries": args.queries,
            "limit": args.limit,
            "seed": args.seed,
            "cpus": os.cpu_count(),
            "target_scoped_p99_ms": TARGET_P99_MS,
            "target_met": not missed,
            "results": [asdict(r) for r in results],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
