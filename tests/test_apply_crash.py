"""Crash convergence: SIGKILL an apply at a random moment, plan and apply again, compare.

The child process applies a spec through :class:`FileBackedProvider` (the fake provider, saved
to a JSON file after every mutation, so what the killed process made survives it) and a SQLite
store in ``tmp_path``. The parent kills it with SIGKILL, then plans (refreshing through the
provider's bulk ``list``) and applies again in-process, and checks the result against an
uninterrupted run: same addresses and values in state, an empty plan afterwards, and exactly one
provider object per address.

A kill that lands between a provider create and its state write leaves an object the state does
not know (an orphan). The refresh lists every object of the kinds in play, and the plan adopts an
orphan at a desired address (an update that records it) instead of creating it again: see
``test_an_orphan_left_by_a_kill_is_adopted_not_duplicated``; random kills exercise the same path.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentform.apply import ApplyEvent, ApplyResult, apply_plan
from agentform.plan import make_plan
from agentform.provider import ObservedResource, ResourceValue
from agentform.resources import desired_resources
from agentform.spec.models import Agent, McpServer, Memory, Model, Schedule, Spec, Tool
from agentform.state import StateSnapshot, open_store
from agentform.testing.fake_provider import FakeProvider, _Object

ROOT = Path(__file__).resolve().parents[1]
LATENCY = 0.06  # seconds per provider create in the child: the apply lasts ~0.6 s
PARALLELISM = 4


class FileBackedProvider(FakeProvider):
    """The fake provider, persisted to ``path`` (atomically) after every mutation.

    ``delay`` is slept before each mutation outside the lock, so parallel workers overlap.
    ``die_after_creates`` makes the process SIGKILL itself right after the N-th create is saved:
    the worst moment, between the provider create and the state write.
    """

    def __init__(self, path: Path, *, delay: float = 0.0, die_after_creates: int = 0) -> None:
        super().__init__("fake")
        self.path = path
        self.delay = delay
        self.die_after_creates = die_after_creates
        self._mutex = threading.Lock()
        if path.exists():
            saved = json.loads(path.read_text())
            self._next_id.update(saved["next_id"])
            self.objects = {i: _Object(**o) for i, o in saved["objects"].items()}

    def create(self, desired: ResourceValue) -> ObservedResource:
        time.sleep(self.delay)
        with self._mutex:
            made = super().create(desired)
            self._save()
            if self.die_after_creates and self.calls["create"] >= self.die_after_creates:
                os.kill(os.getpid(), signal.SIGKILL)
            return made

    def update(self, desired: ResourceValue, observed: ObservedResource) -> ObservedResource:
        time.sleep(self.delay)
        with self._mutex:
            made = super().update(desired, observed)
            self._save()
            return made

    def delete(self, observed: ObservedResource) -> None:
        time.sleep(self.delay)
        with self._mutex:
            super().delete(observed)
            self._save()

    def _save(self) -> None:
        body = {
            "next_id": dict(self._next_id),
            "objects": {
                i: {"address": o.address, "kind": o.kind, "values": o.values}
                for i, o in self.objects.items()
            },
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body))
        os.replace(tmp, self.path)  # a kill mid-save leaves the previous file, never half of one


def crash_spec() -> Spec:
    """About 30 resources with dependencies: models, tools, memory, agents, schedules."""
    tools = [f"t{i}" for i in range(8)]
    return Spec(
        version=1,
        project="demo",
        models={f"m{i}": Model(provider="scripted") for i in range(3)},
        tools={t: Tool(mcp=McpServer(command=["python", f"{t}.py"])) for t in tools},
        memory={f"s{i}": Memory(kind="session") for i in range(3)},
        agents={
            f"a{i}": Agent(model=f"m{i % 3}", tools=tools[i % 4 : i % 4 + 3], memory=[f"s{i % 3}"])
            for i in range(12)
        },
        schedules={f"daily{i}": Schedule(agent=f"a{i}", cron="0 9 * * *") for i in range(2)},
    )


def observe(provider: FakeProvider, recorded: StateSnapshot | None) -> dict[str, Any]:
    """Bulk refresh as ``agentform plan`` does it: one ``list`` per kind the spec or the state
    uses; every object found (recorded or not), and None for recorded ones that are gone."""
    kinds = {v.kind for v in desired_resources(crash_spec()).values()}
    kinds |= {r.kind for r in recorded.resources.values()} if recorded else set()
    live: dict[str, ObservedResource | None] = {}
    for kind in sorted(kinds):
        live.update((o.address, o) for o in provider.list(kind))
    for address in recorded.resources if recorded else {}:
        live.setdefault(address, None)
    return live


def plan_and_apply(
    directory: Path,
    provider: FakeProvider,
    on_event: Callable[[ApplyEvent], None] | None = None,
    parallelism: int = PARALLELISM,
) -> ApplyResult:
    with open_store(None, "demo", "dev", directory) as store:
        recorded = store.read()
        plan = make_plan(
            desired_resources(crash_spec()),
            recorded,
            observe(provider, recorded),
            project="demo",
            environment="dev",
        )
        return apply_plan(
            plan,
            provider,
            store,
            parallelism=parallelism,
            backoff=lambda n: 0.0,
            on_event=on_event,
        )


def child_main(
    directory: str, parallelism: str, die_after_creates: str, die_after_recorded: str
) -> None:
    """Entry point of the child process: announce the start, then apply."""
    where = Path(directory)
    provider = FileBackedProvider(
        where / "provider.json", delay=LATENCY, die_after_creates=int(die_after_creates)
    )
    recorded = Counter[str]()

    def on_event(event: ApplyEvent) -> None:
        # "done" is emitted after the state write: dying here is the kill between a state
        # write and the next provider call
        if event.status == "done":
            recorded["done"] += 1
            if recorded["done"] == int(die_after_recorded):
                os.kill(os.getpid(), signal.SIGKILL)

    (where / "started").touch()
    plan_and_apply(where, provider, on_event, int(parallelism))
    (where / "finished").touch()


def run_child(
    directory: Path,
    *,
    kill_after: float | None,
    die_after_creates: int = 0,
    die_after_recorded: int = 0,
    parallelism: int = PARALLELISM,
) -> None:
    """Start the child; SIGKILL it ``kill_after`` seconds after it starts applying."""
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
        "from tests.test_apply_crash import child_main; child_main(*sys.argv[1:])"
    )
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            str(directory),
            str(parallelism),
            str(die_after_creates),
            str(die_after_recorded),
        ],
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 30
        while not (directory / "started").exists() and child.poll() is None:
            assert time.monotonic() < deadline, "the child never started applying"
            time.sleep(0.005)
        if kill_after is not None:
            time.sleep(kill_after)
            child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def summary(directory: Path) -> dict[str, tuple[str, str, dict[str, Any]]]:
    with open_store(None, "demo", "dev", directory) as store:
        snapshot = store.read()
    assert snapshot is not None
    return {a: (r.kind, r.name, r.values) for a, r in snapshot.resources.items()}


def orphans(directory: Path, provider: FakeProvider) -> list[str]:
    """Provider objects whose address the state does not record."""
    with open_store(None, "demo", "dev", directory) as store:
        snapshot = store.read()
    recorded = snapshot.resources if snapshot else {}
    return sorted(o.address for o in provider.objects.values() if o.address not in recorded)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("uninterrupted")
    result = plan_and_apply(directory, FileBackedProvider(directory / "provider.json"))
    assert result.ok
    return summary(directory)


def assert_converged(directory: Path, expected: dict[str, Any]) -> None:
    provider = FileBackedProvider(directory / "provider.json")
    result = plan_and_apply(directory, provider)
    assert result.ok, result.failed
    assert summary(directory) == expected
    with open_store(None, "demo", "dev", directory) as store:
        recorded = store.read()
    again = make_plan(desired_resources(crash_spec()), recorded, observe(provider, recorded))
    assert not again.has_changes
    assert not again.drift
    per_address = Counter(o.address for o in provider.objects.values())
    assert per_address == Counter(list(expected)), "the provider holds duplicates or leftovers"


# a kill lands anywhere from "nothing made yet" to "apply already finished"
_rng = random.Random(20261124)
DELAYS = [0.0, 0.02, *sorted(round(_rng.uniform(0.03, 0.5), 3) for _ in range(6)), 3.0]


@pytest.mark.parametrize("delay", DELAYS, ids=[f"kill-after-{d}s" for d in DELAYS])
def test_a_killed_apply_converges_on_the_next_apply(
    tmp_path: Path, delay: float, uninterrupted: dict[str, Any]
) -> None:
    run_child(tmp_path, kill_after=delay)
    # whether or not the kill left objects made but unrecorded, the next apply adopts them
    assert_converged(tmp_path, uninterrupted)


def test_a_kill_after_a_state_write_converges(
    tmp_path: Path, uninterrupted: dict[str, Any]
) -> None:
    # one worker, so nothing else is in flight when it dies
    run_child(tmp_path, kill_after=None, die_after_recorded=5, parallelism=1)
    assert not (tmp_path / "finished").exists()
    assert_converged(tmp_path, uninterrupted)


def test_a_kill_after_a_provider_create_converges(
    tmp_path: Path, uninterrupted: dict[str, Any]
) -> None:
    run_child(tmp_path, kill_after=None, die_after_creates=5, parallelism=1)
    assert not (tmp_path / "finished").exists()
    assert_converged(tmp_path, uninterrupted)


def test_an_orphan_left_by_a_kill_is_adopted_not_duplicated(tmp_path: Path) -> None:
    run_child(tmp_path, kill_after=None, die_after_creates=5, parallelism=1)
    provider = FileBackedProvider(tmp_path / "provider.json")
    (orphan,) = orphans(tmp_path, provider)
    result = plan_and_apply(tmp_path, provider)
    assert result.ok, result.failed
    assert orphan in result.updated  # adopted through an update, not created a second time
    assert orphan in summary(tmp_path)
    assert sum(1 for o in provider.objects.values() if o.address == orphan) == 1
