"""The chaos suite, short: support-desk under worker, bus and engine kills loses nothing.

``benchmarks/chaos.py`` run small (60 tasks sent over 10 s, a quarter of them refunds held for a
support lead): a copy of ``examples/support-desk`` applied offline, a worker SIGKILLed every 2 s,
the nats-server killed once (refunds held then approved while the engine has no bus), the
engine SIGKILLed once and started again with ``agentform engine start``, and held refunds
approved by a support lead's token while billing has no worker. Every accepted task must end,
none with more than one answer, every failure with a reason, no refund paid twice (the refunds
server's ledger), no answer saying a refund was issued that was not paid, nothing left waiting
for approval; and the faults must all have happened. The 1,000-task run and its figures are in
benchmarks/README.md.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.chaos import Options, missed, processes_of, report, run


def test_nothing_is_lost_or_paid_twice_when_workers_bus_and_engine_are_killed(
    tmp_path: Path,
) -> None:
    figures = run(Options(tasks=60, seed=7, kill_every=2.0, rate=6.0, settle=180.0), tmp_path)
    print(report(figures))  # shown when it fails: the figures and the reasons of failures
    assert missed(figures) == [], report(figures)
    assert figures["accepted"] == 60 and figures["lost"] == 0
    assert figures["completed"] + figures["failed_with_reason"] == 60
    assert figures["duplicated_answers"] == 0 and figures["duplicated_refunds"] == 0
    faults = figures["faults"]
    assert faults.get("nats_kills") == 1 and faults.get("engine_kills") == 1, faults
    assert faults.get("worker_kills", 0) >= 3, faults
    assert faults.get("approved_while_down", 0) >= 1, faults
    # the held refunds were paid once approved: 500 each, one ledger line per order
    assert figures["refunds_paid_large"] >= 1 and figures["refunds_paid_small"] >= 1
    assert processes_of(tmp_path) == []
