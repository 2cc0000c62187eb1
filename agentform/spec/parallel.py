"""Build one read spec for several targets (the base and environments) on several CPUs.

``agentform validate`` checks the base spec and every environment. The files are read once
(:func:`~agentform.spec.files.read_spec`); after that each build is independent, CPU-bound
work. :func:`build_targets` builds the first target in this process and, on a machine with more
than one CPU and an operating system that can ``fork``, the other targets in forked worker
processes: they inherit the read spec without copying or pickling it, and send back only their
diagnostics (pickled, through a pipe). Results are collected in target order, so nothing depends
on which process finishes first, and a worker that cannot be started or fails has its targets
built here instead, sequentially, with the same result. Small specs, single-CPU machines and
processes running other threads are built sequentially. Called by the CLI's ``validate``.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from agentform.diagnostics import Diagnostic
from agentform.spec.files import RawSpec
from agentform.spec.forking import Forked, abandon, collect, fork_call, usable_cpus
from agentform.spec.loader import LoadResult, build_spec

__all__ = ["MIN_PARALLEL_CHARS", "Builds", "build_targets"]

# below this much spec text a build takes a few milliseconds: forking would cost more
MIN_PARALLEL_CHARS = 1_000_000


@dataclass
class Builds:
    """The first target's full result, and every target's diagnostics, in target order."""

    first: LoadResult
    diagnostics: list[list[Diagnostic]]


@dataclass
class _Worker:
    job: Forked
    indices: list[int]


def build_targets(
    raw: RawSpec,
    targets: Sequence[str | None],
    *,
    variables: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    providers: frozenset[str] | None = None,
    workers: int | None = None,
) -> Builds:
    """Build ``raw`` for each target (``None``: the base spec, else an environment's name).

    ``workers`` caps the forked worker processes (default: one fewer than the usable CPUs, none
    for small specs or where ``fork`` is unavailable; ``0`` builds everything here). The
    diagnostics are those of :func:`~agentform.spec.loader.build_spec` for each target,
    wherever it was built.
    """
    if not targets:
        raise ValueError("build_targets needs at least one target")

    def build(index: int) -> LoadResult:
        return build_spec(
            raw, env=targets[index], variables=variables, environ=environ, providers=providers
        )

    pending = len(targets) - 1
    count = _default_workers(raw, pending) if workers is None else max(0, min(workers, pending))
    # targets 1.. go round-robin to the workers and to this process (which also builds target 0)
    lanes: list[list[int]] = [[] for _ in range(count + 1)]
    for j, index in enumerate(range(1, len(targets))):
        lanes[j % (count + 1)].append(index)
    started: list[_Worker] = []
    local = lanes[count]
    try:
        for lane in lanes[:count]:
            worker = _fork(lane, build)
            if worker is None:
                local.extend(lane)
            else:
                started.append(worker)
        first = build(0)
        found: dict[int, list[Diagnostic]] = {0: first.diagnostics}
        for index in local:
            found[index] = build(index).diagnostics
        while started:
            worker = started.pop(0)
            found.update(_collect(worker))
    finally:
        for worker in started:  # only when this process failed or was interrupted
            _abandon(worker)
    for index in range(1, len(targets)):
        if index not in found:  # its worker failed: build it here
            found[index] = build(index).diagnostics
    return Builds(first, [found[index] for index in range(len(targets))])


def _default_workers(raw: RawSpec, pending: int) -> int:
    if pending <= 0 or not hasattr(os, "fork") or sys.platform == "darwin":
        return 0  # macOS: system libraries are not safe to use in a forked child
    if sum(len(text) for text in raw.smap.texts.values()) < MIN_PARALLEL_CHARS:
        return 0
    if threading.active_count() > 1:
        return 0  # a forked child gets only this thread; locks held by others stay held
    return max(0, min(pending, usable_cpus() - 1))


def _fork(indices: list[int], build: Callable[[int], LoadResult]) -> _Worker | None:
    job = fork_call(lambda: {index: build(index).diagnostics for index in indices})
    return None if job is None else _Worker(job, indices)


def _collect(worker: _Worker) -> dict[int, list[Diagnostic]]:
    """The worker's diagnostics per target; empty when it failed (the caller rebuilds them)."""
    ok, found = collect(worker.job)
    if not ok or not isinstance(found, dict) or sorted(found) != sorted(worker.indices):
        return {}
    return found


def _abandon(worker: _Worker) -> None:
    abandon(worker.job)
