"""Benchmark the audit log: append 1,000,000 records through the real code, then time ``verify``.

Usage: .venv/bin/python benchmarks/bench_audit.py [--records 1000000] [--batch 1000] [--rounds 5]
       [--with-ends] [--dir DIR] [--keep] [--profile] [--check] [--json FILE]

1. **append**: a runtime-store SQLite database in a temp dir (``sqlite:////TMP/runtime.db``,
   opened by :class:`agentform.runtime.store.audit.AuditLog`, which makes every table of the
   runtime store through the store's shared engine: WAL, the store's pragmas) receives
   ``--records`` records through ``AuditLog.append`` in batches of ``--batch`` events, each
   batch a transaction of its own (the head row read, each record numbered, timed and chained,
   one multi-row insert, the head moved). The events are what a task with one tool call leaves in
   the log, three a task: ``task.submitted`` (the caller, the channel), ``tool.call`` (the
   function, the tool, the arguments' digest, the idempotency key, the policy decision) and
   ``tool.result``; with ``--with-ends`` also ``task.ended``, which the store wrote until
   ``e18a082`` (four a task); time-ordered task ids (:func:`agentform.runtime.store.ids.new_id`),
   20 agents and 50 callers. Building the events is not timed; each ``append`` call is.
2. **verify**: ``AuditLog.verify()`` (what ``agentform audit verify`` and ``GET
   /v1/audit/verify`` run, in the engine's thread) on the whole log, ``--rounds`` times, each on a
   fresh ``AuditLog`` (opened before the clock starts, as the engine has it open); every round
   must report every record checked and no break. Median, min-max, records/s. The file is in
   the page cache by then (it was just written): these are warm figures.
3. **where the time goes**, without a profiler: reading alone (``AuditLog.export()``, the pages
   the verify reads), hashing alone (the chain check of :func:`agentform.runtime.audit.verify`
   over 100,000 records already in memory, scaled to the whole log) and the first-record and
   checkpoint lookups (``_start_prev``). With ``--profile``, or when the median misses the
   target, one more verify runs under cProfile and its top functions are printed.
4. **tamper check**: one record's ``data`` in the middle is edited with ``sqlite3``; verify must
   name that record (and the time it took to get there is printed).

Target (issue 18, milestone 2 step 3): ``audit verify`` of 1,000,000 records under 10 s.
Exit status: 0 ran (with ``--check``: the target met), 1 the target missed (``--check``),
2 the log misbehaved (a verify that did not hold on the untouched log, or missed the edit).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy

import agentform
from agentform.runtime.audit import AuditEvent
from agentform.runtime.audit import verify as verify_chain
from agentform.runtime.store.audit import AuditLog
from agentform.runtime.store.ids import new_id

TARGET_S = 10.0
OUT = Path(__file__).resolve().parent / "out" / "audit.json"
AGENTS = [f"agent-{i:02d}" for i in range(20)]
CALLERS = [f"caller-{i:02d}" for i in range(50)]
TOOLS = ["crm.lookup", "billing.refund", "docs.search", "mail.send", "ledger.read"]
SAMPLE = 100_000  # records hashed in memory for the hashing-alone figure


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def task_events(n: int, ends: bool = False) -> list[AuditEvent]:
    """The records of task ``n``, as the store writes them for a task with one tool call (and
    its end, ``ends``: before ``e18a082``)."""
    task = new_id()
    agent = AGENTS[n % len(AGENTS)]
    actor = f"agent:{agent}"
    tool = TOOLS[n % len(TOOLS)]
    function = tool.replace(".", "_")
    digest = f"{(n * 2654435761) % (1 << 64):016x}"
    events = [
        AuditEvent(
            "task.submitted",
            CALLERS[n % len(CALLERS)],
            agent,
            task,
            {"channel": "bus" if n % 3 else "api", "parent": None},
        ),
        AuditEvent(
            "tool.call",
            actor,
            None,
            task,
            {
                "function": function,
                "tool": tool,
                "args_digest": digest,
                "key": f"{task}:1",
                "decision": {"effect": "allow", "policies": [f"{agent}-allowed"]},
            },
        ),
        AuditEvent("tool.result", actor, None, task, {"function": function, "is_error": False}),
    ]
    if ends:
        events.append(AuditEvent("task.ended", actor, None, task, {"status": "completed"}))
    return events


def build(url: str, records: int, batch: int, ends: bool = False) -> dict[str, Any]:
    log = AuditLog(url)
    times: list[float] = []
    made = 0
    n = 0
    pending: list[AuditEvent] = []
    load_before = loadavg()
    started = time.perf_counter()
    try:
        while made < records:
            while len(pending) < batch:
                pending += task_events(n, ends)
                n += 1
            events, pending = pending[: min(batch, records - made)], pending[batch:]
            t0 = time.perf_counter()
            log.append(events)
            times.append(time.perf_counter() - t0)
            made += len(events)
            if len(times) % 100 == 0:
                print(f"  appended {made:,} records", file=sys.stderr, flush=True)
    finally:
        log.close()
    wall = time.perf_counter() - started
    appending = sum(times)
    ms = [t * 1000 for t in times]
    return {
        "records": made,
        "tasks": n,
        "batch": batch,
        "batches": len(times),
        "append_s": round(appending, 2),
        "append_records_per_s": round(made / appending),
        "batch_ms_p50": round(pct(ms, 50), 2),
        "batch_ms_p99": round(pct(ms, 99), 2),
        "batch_ms_max": round(max(ms), 2),
        "wall_s_with_event_building": round(wall, 2),
        "load_before": load_before,
        "load_after": loadavg(),
    }


def timed_verify(url: str) -> tuple[float, int, Any]:
    log = AuditLog(url)
    try:
        t0 = time.perf_counter()
        checked, broken = log.verify()
        return time.perf_counter() - t0, checked, broken
    finally:
        log.close()


def breakdown(url: str, records: int) -> dict[str, Any]:
    """Reading alone, hashing alone (scaled), the lookups before the chain."""
    log = AuditLog(url)
    try:
        t0 = time.perf_counter()
        start_prev = log._start_prev()
        lookups = time.perf_counter() - t0
        t0 = time.perf_counter()
        sample = []
        read = 0
        for record in log.export():
            if read < SAMPLE:
                sample.append(record)
            read += 1
        reading = time.perf_counter() - t0
    finally:
        log.close()
    t0 = time.perf_counter()
    checked, broken = verify_chain(sample, start_prev=start_prev)
    hashing = time.perf_counter() - t0
    if broken is not None or checked != len(sample):
        raise SystemExit(f"the in-memory chain check did not hold: {checked}, {broken}")
    return {
        "start_prev_s": round(lookups, 3),
        "read_export_s": round(reading, 2),
        "read_records": read,
        "hash_sample": len(sample),
        "hash_sample_s": round(hashing, 3),
        "hash_scaled_s": round(hashing * records / max(1, len(sample)), 2),
        "hash_us_per_record": round(hashing / max(1, len(sample)) * 1e6, 2),
        "read_us_per_record": round(reading / max(1, read) * 1e6, 2),
    }


def profile(url: str, top: int = 25) -> str:
    log = AuditLog(url)
    profiler = cProfile.Profile()
    try:
        profiler.enable()
        log.verify()
        profiler.disable()
    finally:
        log.close()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def tamper(db: Path, url: str, records: int) -> dict[str, Any]:
    """Edit the middle record's data; verify must name it."""
    seq = records // 2
    conn = sqlite3.connect(db, timeout=10)
    try:
        with conn:
            conn.execute(
                "UPDATE agentform_audit SET data = ? WHERE seq = ?",
                ('{"status":"failed"}', seq),
            )
    finally:
        conn.close()
    seconds, checked, broken = timed_verify(url)
    return {
        "edited_seq": seq,
        "found_seq": None if broken is None else broken.seq,
        "reason": None if broken is None else broken.reason,
        "checked": checked,
        "verify_s": round(seconds, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000, help="events an append (a transaction)")
    parser.add_argument("--rounds", type=int, default=5, help="verify rounds (median)")
    parser.add_argument(
        "--with-ends", action="store_true", help="a task.ended record a task too (before e18a082)"
    )
    parser.add_argument("--dir", type=Path, help="where the temp dir goes (default: the system's)")
    parser.add_argument("--keep", action="store_true", help="keep the database (path printed)")
    parser.add_argument("--profile", action="store_true", help="profile one verify in any case")
    parser.add_argument("--check", action="store_true", help=f"exit 1 if median >= {TARGET_S} s")
    parser.add_argument("--json", type=Path, default=OUT, help=f"results file (default {OUT})")
    args = parser.parse_args(argv)
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-audit-", dir=args.dir))
    db = tmp / "runtime.db"
    url = f"sqlite:///{db}"
    res: dict[str, Any] = {
        "records": args.records,
        "batch": args.batch,
        "rounds": args.rounds,
        "with_ends": args.with_ends,
        "agentform_code": str(Path(agentform.__file__).resolve().parent),
        "versions": {
            "python": sys.version.split()[0],
            "sqlite": sqlite3.sqlite_version,
            "sqlalchemy": sqlalchemy.__version__,
        },
        "machine": {"nproc": os.cpu_count(), "load_before": loadavg()},
        "target_s": TARGET_S,
    }
    status = 0
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    try:
        say(f"appending {args.records:,} records in batches of {args.batch:,} to {db} ...")
        res["append"] = build(url, args.records, args.batch, args.with_ends)
        size = sum(p.stat().st_size for p in tmp.iterdir() if p.name.startswith("runtime.db"))
        res["database_mb"] = round(size / 1e6, 1)
        rounds = []
        for r in range(1, args.rounds + 1):
            load = loadavg()
            seconds, checked, broken = timed_verify(url)
            say(f"verify round {r}: {seconds:.2f} s, {checked:,} checked, load {load}")
            rounds.append({"s": round(seconds, 3), "checked": checked, "load_before": load})
            if checked != args.records or broken is not None:
                say(f"the untouched log did not verify: {checked} checked, {broken}")
                status = 2
        times = [r["s"] for r in rounds]
        median = statistics.median(times)
        res["verify"] = {
            "rounds": rounds,
            "median_s": round(median, 3),
            "min_s": min(times),
            "max_s": max(times),
            "records_per_s": round(args.records / median),
            "us_per_record": round(median / args.records * 1e6, 2),
            "target_met": median < TARGET_S,
        }
        say("where the time goes (reading alone, hashing alone) ...")
        res["breakdown"] = breakdown(url, args.records)
        if args.profile or median >= TARGET_S:
            say("profiling one verify ...")
            text = profile(url)
            res["profile_top"] = text
            print(text)
        say("editing one record; verify must name it ...")
        res["tamper"] = tamper(db, url, args.records)
        if res["tamper"]["found_seq"] != res["tamper"]["edited_seq"]:
            status = 2
    finally:
        res["machine"]["load_after"] = loadavg()
        if args.keep:
            res["database"] = str(db)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2))
    a, v, b = res["append"], res["verify"], res["breakdown"]
    t = res["tamper"]
    print(
        f"append   {a['records']:,} records, {a['batches']:,} transactions of {a['batch']:,}:"
        f" {a['append_s']:.1f} s, {a['append_records_per_s']:,} records/s"
        f" (a batch p50 {a['batch_ms_p50']:.1f} ms, p99 {a['batch_ms_p99']:.1f} ms);"
        f" database {res['database_mb']} MB\n"
        f"verify   median {v['median_s']:.2f} s ({v['min_s']:.2f}-{v['max_s']:.2f}) over"
        f" {args.rounds} rounds, {v['records_per_s']:,} records/s, {v['us_per_record']} us a"
        f" record; target < {TARGET_S:g} s: {'pass' if v['target_met'] else 'FAIL'}\n"
        f"  of it  reading (export) {b['read_export_s']:.2f} s ({b['read_us_per_record']} us a"
        f" record); hashing {b['hash_scaled_s']:.2f} s ({b['hash_us_per_record']} us a record,"
        f" from {b['hash_sample']:,}); first-record and checkpoint lookups {b['start_prev_s']} s\n"
        f"tamper   record {t['edited_seq']:,} edited: verify named {t['found_seq']}"
        f" after {t['verify_s']:.2f} s ({t['reason']})\n"
        f"load average before {res['machine']['load_before']}, after"
        f" {res['machine']['load_after']}; results in {args.json}"
        + (f"; database kept at {db}" if args.keep else "")
    )
    if args.check and not v["target_met"] and status == 0:
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
