"""Chaos (issue 19, item 4): tasks on support-desk while workers, the bus and the engine are
killed, counted until nothing is lost, paid twice or failed without a reason.

A copy of ``examples/support-desk`` in a temp dir is applied offline (scripted models, SQLite
store, embedded NATS) with these changes to the copy: the refunds server appends every payout to
a ledger (``REFUNDS_LEDGER``, one JSON line each, outside the engine directory) and knows orders
``C-00000``... (1,299 EUR each) besides the example's four; the billing script refunds the order
the customer names with its own idempotency key (``C-00042-refund-1``), 42.5 EUR for a double
charge and 500 EUR for a broken robot, which the ``refund-approval`` policy holds for a support
lead; triage's breaker allows a million tool calls a minute instead of 30 (it would fail most of
the tasks, with its reason); triage and billing run 3 workers each. The tasks (``--seed`` draws
them): half small refunds, a quarter large ones, a quarter questions the knowledge base answers,
sent through the control API in batches of ``--rate`` a second, each with its own id (a batch
the engine refused or could not take is sent again with the same ids: the store and the bus
take an id once).

Faults, while the tasks run (the sending window is tasks / rate seconds, W):

* a worker SIGKILLed every ``--kill-every`` seconds, the one that has lived longest (the
  engine takes a worker that exits within 10 s of its start for one crashing at start and
  backs off, up to 30 s: random kills of 4 workers every 2 s kept slots down 25 s at a time);
* the nats-server SIGKILLed once, at 0.3 W (the engine restarts it on the same port within its
  1 s pass, then reconnects), and the refunds held then approved at once: the first while the
  engine has no bus;
* the engine SIGKILLed once, at 0.7 W (its workers stop by themselves), and started again with
  ``agentform engine start`` (docs/runtime.md: it restores everything from resources.json);
* every max(8 s, W/4) after the bus was killed, the held refunds approved by a support lead's
  token (``maria.schneider``) while billing has no worker: billing's replicas set to 0 (a PUT
  of its values, as apply does), every worker SIGKILLed, the approvals given (the first with
  ``agentform --token LEAD approvals approve``, the others through the control API route it
  calls), billing's replicas set back.

The faults stop once the bus, the engine and one round of approvals were done and every task has
ended or waits for a support lead (at the latest 4 W, at least 90 s, after the start); what
still waits is approved, and the run waits until every accepted task has ended (or ``--settle``
seconds pass without one ending). Counted per accepted task (the tasks sent; their delegated
billing tasks apart): completed; failed with a reason (grouped; "outcome is unknown" of an
unsafe call a SIGKILL interrupted counted apart); failed without a reason; lost (accepted but
never ended, or gone from the store); duplicated answers (a task or a delegated task with more
than one ``final`` step, or a task that delegated twice); duplicated refunds (ledger entries
sharing an idempotency key, or one order paid twice); answers that say a refund was issued with
nothing in the ledger; requests left waiting for approval. Printed, and written to
``benchmarks/out/chaos.json`` with every fault's time. Exit status 1 when a target is missed: 0
lost, 0 duplicated, every failure with a reason, nothing left waiting.

    .venv/bin/python benchmarks/chaos.py [--tasks 1000] [--seed 0] [--kill-every 2] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agentform.runtime.host.client import (
    EngineClient,
    EngineRequestError,
    EngineUnavailable,
    engine_dir,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "support-desk"
CLI = Path(sys.executable).parent / "agentform"
OUT = ROOT / "benchmarks" / "out" / "chaos.json"
TERMINAL = frozenset({"completed", "failed", "canceled", "rejected"})
LEAD = "maria.schneider"  # a support lead of the example's access section
UNKNOWN = "outcome is unknown"

# the billing script's two refund rules, rewritten for the copy: the order the customer names,
# its own idempotency key; 500 (held by refund-approval) for a broken robot, else 42.5
_ORDER = "{{ user.split('order ')[1][:7] }}"
_REFUND_RULES = [
    {
        "match": {"user": "arrived broken", "tool_result": "kb-104"},
        "call": {
            "tool": "issue_refund",
            "arguments": {
                "order_id": _ORDER,
                "amount": 500,
                "idempotency_key": f"{_ORDER}-refund-1",
                "reason": "The robot arrived broken; partial refund agreed with the customer.",
            },
        },
    },
    {
        "match": {"tool_result": "kb-104"},
        "call": {
            "tool": "issue_refund",
            "arguments": {
                "order_id": _ORDER,
                "amount": 42.5,
                "idempotency_key": f"{_ORDER}-refund-1",
                "reason": "Duplicate charge reported by the customer.",
            },
        },
    },
]
_ORDERS_LINE = "_refunds: dict[str, Refund] = {}"


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- the project ------------------------------------------------------------------------------


def prepare(directory: Path, ledger: Path, replicas: int = 3) -> None:
    """Copy support-desk into ``directory`` with the ledger, the chaos orders and scripts."""
    shutil.copytree(
        EXAMPLE, directory, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".agentform")
    )
    spec_file = directory / "agentform.yaml"
    spec = yaml.safe_load(spec_file.read_text())
    spec["tools"]["refunds"]["mcp"]["env"] = {"REFUNDS_LEDGER": str(ledger)}
    spec["variables"]["triage_replicas"]["default"] = replicas
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    # triage's breaker trips at 30 tool calls a minute across replicas: right for one chat
    # desk's LLM, but it would fail most of a thousand tasks sent within a minute
    triage_file = directory / "agents" / "triage.yaml"
    triage = yaml.safe_load(triage_file.read_text())
    triage["agents"]["triage"]["circuit_breaker"]["max_calls_per_minute"] = 1_000_000
    triage_file.write_text(yaml.safe_dump(triage, sort_keys=False))
    billing_file = directory / "agents" / "billing.yaml"
    billing = yaml.safe_load(billing_file.read_text())
    billing["agents"]["billing"]["replicas"] = replicas
    billing_file.write_text(yaml.safe_dump(billing, sort_keys=False))
    script_file = directory / "scripts" / "billing.yaml"
    script = yaml.safe_load(script_file.read_text())
    rules = script["rules"]
    first = next(i for i, r in enumerate(rules) if "kb-104" in str(r.get("match", {})))
    assert "kb-104" in str(rules[first + 1].get("match")), "the example's refund rules moved"
    rules[first : first + 2] = _REFUND_RULES
    script_file.write_text(yaml.safe_dump(script, sort_keys=False))
    server = directory / "servers" / "refunds.py"
    code = server.read_text()
    assert _ORDERS_LINE in code, "the example's refunds server changed: update chaos.py"
    orders = 'ORDERS.update({f"C-{n:05d}": (1299.00, "EUR") for n in range(100_000)})\n'
    server.write_text(code.replace(_ORDERS_LINE, orders + _ORDERS_LINE))


@dataclass(frozen=True)
class Job:
    """One task to send: its id, kind (small, large, question) and the order it names."""

    id: str
    kind: str
    order: str
    text: str


def workload(n: int, seed: int) -> list[Job]:
    """``n`` tasks: half small refunds, a quarter large (held) ones, a quarter questions."""
    rng = random.Random(seed)
    kinds = ["small"] * (n - n // 4 - n // 4) + ["large"] * (n // 4) + ["question"] * (n // 4)
    rng.shuffle(kinds)
    questions = ["How do I reset my password?", "My robot does not charge any more."]
    jobs = []
    for i, kind in enumerate(kinds):
        order = f"C-{i:05d}"
        if kind == "small":
            text = f"I was charged twice for order {order}, please refund me"
        elif kind == "large":
            text = f"My robot arrived broken. Please refund 500 EUR of order {order}."
        else:
            text, order = rng.choice(questions), ""
        jobs.append(Job(f"chaos-{seed}-{i:05d}", kind, order, text))
    return jobs


# -- the engine, as an operator and a support lead sees it ------------------------------------


@dataclass
class Desk:
    """The applied copy: CLI calls, the operator's and the lead's control-API clients."""

    dir: Path
    ledger: Path
    client: EngineClient = field(init=False)
    lead: EngineClient = field(init=False)
    lead_token: str = ""

    def __post_init__(self) -> None:
        self.client = EngineClient(engine_dir(self.dir))
        self.lead = self.client

    def cli(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CLI), *args],
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
            check=False,
        )

    def must(self, *args: str) -> str:
        done = self.cli(*args)
        if done.returncode != 0:
            raise RuntimeError(f"agentform {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def apply(self) -> None:
        self.must("apply", "--auto-approve")
        self.wait_workers(timeout=120)
        self.lead_token = self.must("tokens", "create", LEAD).strip()
        self.lead = EngineClient(engine_dir(self.dir), token=self.lead_token)

    def info(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads((self.client.dir / "engine.json").read_text())
        return found

    def workers(self) -> dict[str, int]:
        """Worker id -> pid of every live worker of every agent."""
        status = self.client.request("GET", "/v1/status", timeout=15)
        return {
            w["worker"]: int(w["pid"])
            for a in status["agents"]
            for w in a["workers"]
            if w["alive"] and w["pid"]
        }

    def wait_workers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(EngineUnavailable, EngineRequestError, OSError):
                status = self.client.request("GET", "/v1/status", timeout=15)
                if all(a["running"] >= a.get("replicas", 1) for a in status["agents"]):
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the workers were not all running within {timeout:g}s")

    def resource(self, address: str) -> dict[str, Any]:
        """The values the engine runs ``address`` with (its resources.json)."""
        values: dict[str, Any] = json.loads((self.client.dir / "resources.json").read_text())[
            address
        ]
        return values

    def put_resource(self, address: str, values: dict[str, Any]) -> None:
        self.client.request("PUT", f"/v1/resources/{address}", body={"values": values}, timeout=300)

    def pending(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.lead.request(
            "GET", "/v1/approvals", params={"status": "pending"}, timeout=30
        )
        return found

    def approve(self, approval_id: str, *, with_cli: bool) -> bool:
        """Approve as the support lead; False when it was decided already or its task ended."""
        if with_cli:
            done = self.cli("--token", self.lead_token, "approvals", "approve", approval_id)
            return done.returncode == 0
        try:
            self.lead.request(
                "POST", f"/v1/approvals/{approval_id}", body={"decision": "approve"}, timeout=30
            )
        except EngineRequestError as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def teardown(self) -> None:
        with contextlib.suppress(Exception):
            if self.client.running():
                self.cli("destroy", "--auto-approve", "--allow-data-loss")
        with contextlib.suppress(Exception):
            self.client.stop(timeout=30)
        for pid in processes_of(self.dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def processes_of(directory: Path) -> list[int]:
    """Live processes whose command line names ``directory`` or that run inside it."""
    mark, found = str(directory), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(entry / "cwd")
            zombie = "zombie" in (entry / "status").read_text()
        except OSError:
            continue
        if not zombie and (mark in cmdline or cwd == mark or cwd.startswith(mark + "/")):
            found.append(int(entry.name))
    return found


def _kill(pid: int) -> bool:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


# -- the faults ---------------------------------------------------------------------------------


@dataclass
class Log:
    """What happened when, for the report (seconds since the start)."""

    began: float = field(default_factory=time.monotonic)
    events: list[tuple[float, str]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, what: str, count: str | None = None, n: int = 1) -> None:
        with self.lock:
            self.events.append((round(time.monotonic() - self.began, 1), what))
            if count:
                self.counts[count] += n
        print(f"[{time.monotonic() - self.began:7.1f}s] {what}", file=sys.stderr, flush=True)


@dataclass
class Plan:
    """When each fault happens, in seconds since the first task was sent."""

    kill_every: float
    nats_at: float
    engine_at: float
    approvals_every: float
    until: float


class Faults(threading.Thread):
    """Runs a :class:`Plan` against a :class:`Desk` until ``stop`` is set."""

    def __init__(self, desk: Desk, plan: Plan, log: Log) -> None:
        super().__init__(name="faults", daemon=True)
        self.desk, self.plan, self.log = desk, plan, log
        self.seen: dict[int, float] = {}  # worker pid -> when first seen (monotonic)
        self.stop = threading.Event()
        self.engine_down = threading.Event()  # the submitter waits while it is set
        self.errors: list[str] = []
        self.nats_done = self.engine_done = False

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # reported, and the run's figures say the faults stopped
            self.errors.append(f"{type(exc).__name__}: {exc}")
            self.log.note(f"faults stopped by an error: {exc!r}")

    def _run(self) -> None:
        plan, began = self.plan, time.monotonic()
        # the first round after the bus was killed: refunds held until then are approved there
        next_kill, next_approvals = plan.kill_every, plan.nats_at + plan.approvals_every
        while not self.stop.is_set():
            now = time.monotonic() - began
            if not self.nats_done and now >= plan.nats_at:
                self.kill_nats()
                self.nats_done = True
            elif not self.engine_done and now >= plan.engine_at:
                self.kill_engine()
                self.engine_done = True
            elif now >= next_approvals:
                self.approve_while_down()
                next_approvals = time.monotonic() - began + plan.approvals_every
            elif now >= next_kill:
                self.kill_a_worker()
                next_kill = time.monotonic() - began + plan.kill_every
            self.stop.wait(0.1)

    def _workers(self) -> dict[str, int]:
        for _ in range(50):
            with contextlib.suppress(EngineUnavailable, EngineRequestError, OSError):
                return self.desk.workers()
            time.sleep(0.2)
        return {}

    def kill_a_worker(self) -> None:
        """SIGKILL the worker that has lived longest (first seen longest ago)."""
        workers = self._workers()
        now = time.monotonic()
        for pid in workers.values():
            self.seen.setdefault(pid, now)
        if not workers:
            return
        worker = min(sorted(workers), key=lambda w: self.seen[workers[w]])
        lived = now - self.seen[workers[worker]]
        if _kill(workers[worker]):
            self.log.note(
                f"SIGKILL worker {worker} (pid {workers[worker]}, seen {lived:.1f}s ago)",
                "worker_kills",
            )

    def kill_nats(self) -> None:
        pid = int(self.desk.info()["nats_pid"])
        pending = self._held()
        _kill(pid)
        self.log.note(f"SIGKILL nats-server (pid {pid})", "nats_kills")
        # decided while the bus is down: the engine cannot wake those tasks at once
        approved = sum(self.desk.approve(r["id"], with_cli=False) for r in pending)
        self.log.note(
            f"approved {approved} of {len(pending)} held refunds from the moment the bus died",
            "approved_after_bus_kill",
            approved,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                if int(self.desk.info()["nats_pid"]) != pid:
                    self.log.note(f"nats-server restarted (pid {self.desk.info()['nats_pid']})")
                    return
            time.sleep(0.1)
        raise RuntimeError("the engine did not restart its nats-server within 60s")

    def kill_engine(self) -> None:
        pid = int(self.desk.info()["pid"])
        self.engine_down.set()
        try:
            _kill(pid)
            self.log.note(f"SIGKILL engine (pid {pid})", "engine_kills")
            self.desk.client.wait_gone(pid, timeout=30)
            time.sleep(1.0)  # its workers notice they are alone and stop
            began = time.monotonic()
            self.desk.must("engine", "start")
            self.log.note(
                f"engine started again (pid {self.desk.info()['pid']},"
                f" {time.monotonic() - began:.1f}s)"
            )
        finally:
            self.engine_down.clear()

    def _held(self) -> list[dict[str, Any]]:
        """The pending requests of calls a policy held (not unknown outcomes: a human
        answers those from the tool's side, and this run never does)."""
        try:
            return [r for r in self.desk.pending() if r.get("kind", "policy") == "policy"]
        except (EngineUnavailable, EngineRequestError, OSError):
            return []

    def _kill_all(self) -> int:
        """SIGKILL every live worker; how many there were."""
        workers = self._workers()
        for pid in workers.values():
            _kill(pid)
        return len(workers)

    def approve_while_down(self) -> None:
        """Every held refund approved by the support lead while billing has no worker:
        billing's replicas set to 0 (a PUT of its values, as apply does) so that the engine
        does not start them again, every worker SIGKILLed, the approvals given (the first
        with the CLI), then billing's replicas back (the PUT returns once they are ready)."""
        pending = self._held()
        if not pending:
            return
        # after an engine restart: once it has started every worker again (a PUT before it
        # restored its agents would be undone by the restore)
        with contextlib.suppress(RuntimeError):
            self.desk.wait_workers(timeout=30)
        values = self.desk.resource("agent.billing")
        self.desk.put_resource("agent.billing", {**values, "replicas": 0})
        try:
            kills = self._kill_all()  # billing's retiring workers too: none drains its tasks
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                billing = [p for w, p in self._workers().items() if w.startswith("billing-")]
                if not billing:
                    break
                kills += sum(_kill(pid) for pid in billing)
                time.sleep(0.2)
            approved = sum(
                self.desk.approve(request["id"], with_cli=(i == 0))
                for i, request in enumerate(pending)
            )
            billing = [w for w in self._workers() if w.startswith("billing-")]
        finally:
            self.desk.put_resource("agent.billing", values)
        self.log.note(
            f"billing stopped, {kills} workers SIGKILLed; approved {approved} of"
            f" {len(pending)} held refunds with {len(billing)} billing workers running;"
            " billing started again",
            "approved_while_down",
            approved,
        )
        self.log.counts["worker_kills"] += kills
        self.log.counts["approval_rounds"] += 1


# -- sending the tasks --------------------------------------------------------------------------


def submit(desk: Desk, jobs: list[Job], faults: Faults, log: Log) -> set[str]:
    """Send ``jobs`` in one request; the ids accepted (retried until the engine takes them)."""
    body = {
        "tasks": [
            {
                "agent": "triage",
                "input": job.text,
                "id": job.id,
                "inputs": {"customer": {"name": "Ada", "id": f"cust-{job.id}", "plan": "pro"}},
            }
            for job in jobs
        ]
    }
    waiting = {job.id for job in jobs}
    accepted: set[str] = set()
    deadline = time.monotonic() + 300
    while waiting and time.monotonic() < deadline:
        while faults.engine_down.is_set():
            time.sleep(0.1)
        try:
            answer = desk.client.request("POST", "/v1/tasks", body=body, timeout=60)
            results = answer["tasks"]
        except EngineRequestError as exc:
            # some may have been accepted: sent again with the same ids, those are answered
            # with their record (the store and the bus's Nats-Msg-Id take each id once)
            log.note(f"a batch was refused ({exc.status}): {str(exc)[:160]}", "batch_refusals")
            time.sleep(0.5)
            continue
        except (EngineUnavailable, OSError) as exc:
            log.note(f"a batch could not be sent: {str(exc)[:120]}", "batch_refusals")
            time.sleep(0.5)
            continue
        for item in results:
            if "id" in item and item["id"] in waiting:
                waiting.discard(item["id"])
                accepted.add(item["id"])
        if waiting:
            body["tasks"] = [t for t in body["tasks"] if t["id"] in waiting]
            time.sleep(0.5)
    return accepted


def statuses(desk: Desk, ids: set[str]) -> dict[str, str | None]:
    """The status of each task of ``ids`` (None: the store does not know it)."""
    listed = desk.client.request(
        "GET", "/v1/tasks", params={"agent": "triage", "limit": 1000}, timeout=60
    )
    found: dict[str, str | None] = {t["id"]: t["status"] for t in listed if t["id"] in ids}
    for task_id in ids - set(found):  # older than the newest 1,000
        task = _task(desk, task_id)
        found[task_id] = None if task is None else task["status"]
    return found


def running(desk: Desk, ids: set[str]) -> int | None:
    """How many tasks of ``ids`` are open and not waiting for a support lead (None: unknown)."""
    try:
        open_ = sum(1 for s in statuses(desk, ids).values() if s is not None and s not in TERMINAL)
        return max(0, open_ - len(desk.pending()))
    except (EngineUnavailable, EngineRequestError, OSError):
        return None


def settle(desk: Desk, ids: set[str], *, quiet: float, approve: bool) -> set[str]:
    """Wait until every task of ``ids`` has ended, approving held refunds if ``approve``;
    gives up after ``quiet`` seconds in which none ended. Returns those still open."""
    open_ = set(ids)
    last_change = time.monotonic()
    while open_ and time.monotonic() - last_change < quiet:
        with contextlib.suppress(EngineUnavailable, EngineRequestError, OSError):
            if approve:
                for request in desk.pending():
                    if request.get("kind", "policy") == "policy":
                        desk.approve(request["id"], with_cli=False)
            done = {i for i, s in statuses(desk, open_).items() if s is None or s in TERMINAL}
            if done:
                open_ -= done
                last_change = time.monotonic()
        time.sleep(1.0)
    return open_


def _task(desk: Desk, task_id: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = desk.client.request("GET", f"/v1/tasks/{task_id}", timeout=30)
    except EngineRequestError as exc:
        if exc.status == 404:
            return None
        raise
    return found


# -- counting -----------------------------------------------------------------------------------


def reason_group(error: str) -> str:
    """A failure's reason without what differs from task to task (ids, numbers)."""
    text = re.sub(r"chaos-\d+-\d+(\.\S+)?", "TASK", error)
    text = re.sub(r"C-\d{5}", "ORDER", text)
    text = re.sub(r"\d+(\.\d+)?", "N", text)
    return text[:200]


def ledger(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def count(desk: Desk, jobs: list[Job], accepted: set[str]) -> dict[str, Any]:
    """The figures of a run, from the engine's records and the refunds ledger."""
    from concurrent.futures import ThreadPoolExecutor

    def look(job: Job) -> tuple[Job, dict[str, Any] | None, list[dict[str, Any]]]:
        task = _task(desk, job.id)
        children: list[dict[str, Any]] = []
        if task is not None:
            listed = desk.client.request(
                "GET", "/v1/tasks", params={"parent": job.id, "limit": 100}, timeout=60
            )
            children = [_task(desk, c["id"]) or c for c in listed]
        return job, task, children

    mine = [job for job in jobs if job.id in accepted]
    with ThreadPoolExecutor(8) as pool:
        looked = list(pool.map(look, mine))
    paid = ledger(desk.ledger)
    by_key = Counter(entry["idempotency_key"] for entry in paid)
    by_order = Counter(entry["order_id"] for entry in paid)
    figures: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    child_reasons: Counter[str] = Counter()
    lost: list[str] = []
    no_reason: list[str] = []
    duplicated: list[str] = []
    unpaid: list[str] = []
    for job, task, children in looked:
        if task is None:
            figures["vanished"] += 1
            lost.append(job.id)
            continue
        status = task["status"]
        figures[status] += 1
        if status not in TERMINAL:
            lost.append(job.id)
        if status == "failed":
            error = (task.get("error") or "").strip()
            if not error:
                no_reason.append(job.id)
            elif UNKNOWN in error:
                figures["failed_unknown_outcome"] += 1
            else:
                reasons[reason_group(error)] += 1
        finals = sum(1 for s in task["steps"] if s["kind"] == "final")
        calls = [s for s in task["steps"] if s["kind"] == "tool_call"]
        delegations = {s["data"].get("id") for s in calls if s["data"].get("name") == "billing"}
        if finals > 1 or len(children) > max(1, len(delegations)):
            duplicated.append(job.id)
        for child in children:
            figures[f"delegated_{child['status']}"] += 1
            if sum(1 for s in child.get("steps", []) if s["kind"] == "final") > 1:
                duplicated.append(child["id"])
            if child["status"] == "failed":
                error = (child.get("error") or "").strip()
                if not error:
                    no_reason.append(child["id"])
                elif UNKNOWN in error:
                    figures["delegated_failed_unknown_outcome"] += 1
                else:
                    child_reasons[reason_group(error)] += 1
        if job.order:
            refunded = by_order[job.order]
            said = "has been issued" in (task.get("result") or "")
            if status == "completed" and said and refunded == 0:
                unpaid.append(job.id)
            if refunded and not (status == "completed" and said):
                figures["paid_but_not_said"] += 1
            if refunded:
                figures[f"paid_{job.kind}"] += 1
    duplicate_keys = {k: n for k, n in by_key.items() if n > 1}
    duplicate_orders = {k: n for k, n in by_order.items() if n > 1}
    # a request whose task still waits, and one whose task ended (it decides nothing now)
    pending = desk.pending()
    ended = {c["id"] for _, _, cs in looked for c in cs if c["status"] in TERMINAL}
    stale = [r["id"] for r in pending if r["task_id"] in ended]
    return {
        "sent": len(jobs),
        "accepted": len(accepted),
        "completed": figures["completed"],
        "failed_with_reason": sum(reasons.values()) + figures["failed_unknown_outcome"],
        "failed_unknown_outcome": figures["failed_unknown_outcome"],
        "failed_reasons": dict(reasons.most_common()),
        "failed_without_reason": len(no_reason),
        "failed_without_reason_ids": no_reason[:20],
        "other_final": {s: figures[s] for s in ("canceled", "rejected") if figures[s]},
        "lost": len(lost),
        "lost_ids": lost[:20],
        "lost_statuses": dict(
            Counter(
                str(t["status"]) if t else "vanished"
                for _, t, _ in looked
                if t is None or t["status"] not in TERMINAL
            )
        ),
        "duplicated_answers": len(duplicated),
        "duplicated_answer_ids": duplicated[:20],
        "refunds_paid": len(paid),
        "refunds_paid_small": figures["paid_small"],
        "refunds_paid_large": figures["paid_large"],
        # one key per order here: a key or an order paid twice is the same refund twice
        "duplicated_refunds": max(
            sum(n - 1 for n in duplicate_keys.values()),
            sum(n - 1 for n in duplicate_orders.values()),
        ),
        "duplicated_refund_keys": duplicate_keys,
        "answered_issued_but_unpaid": len(unpaid),
        "answered_issued_but_unpaid_ids": unpaid[:20],
        "paid_but_task_did_not_say_so": figures["paid_but_not_said"],
        "delegated": {
            s: figures[f"delegated_{s}"]
            for s in ("completed", "failed", "input-required", "working", "submitted")
            if figures[f"delegated_{s}"]
        },
        "delegated_failed_unknown_outcome": figures["delegated_failed_unknown_outcome"],
        "delegated_failed_reasons": dict(child_reasons.most_common()),
        "waiting_for_approval": len(pending) - len(stale),
        "pending_requests_of_ended_tasks": len(stale),
        "pending_requests_of_ended_tasks_ids": stale[:20],
    }


# -- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    tasks: int = 1000
    seed: int = 0
    kill_every: float = 2.0
    rate: float = 20.0  # tasks sent per second
    settle: float = 300.0  # seconds without a task ending before the rest counts as lost
    quick: bool = False


def plan_for(options: Options) -> Plan:
    """Faults over the sending window (tasks / rate) and as long again after it."""
    window = max(10.0, options.tasks / options.rate)
    return Plan(
        kill_every=options.kill_every,
        nats_at=0.3 * window,
        engine_at=0.7 * window,
        approvals_every=max(8.0, window / 4),
        until=max(4 * window, 90.0),  # a loaded machine restarts the engine slowly
    )


def run(options: Options, directory: Path) -> dict[str, Any]:
    """Apply the copy in ``directory``, run the tasks under faults, count; tears down."""
    jobs = workload(options.tasks, options.seed)
    desk = Desk(directory / "support-desk", directory / "refunds.jsonl")
    prepare(desk.dir, desk.ledger)
    load_before = loadavg()
    faults: Faults | None = None
    try:
        began = time.monotonic()
        desk.apply()
        applied = time.monotonic() - began
        plan = plan_for(options)
        log = Log()
        faults = Faults(desk, plan, log)
        faults.start()
        accepted: set[str] = set()
        batch = max(1, int(options.rate))
        for start in range(0, len(jobs), batch):
            tick = time.monotonic()
            accepted |= submit(desk, jobs[start : start + batch], faults, log)
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        log.note(f"all {len(jobs)} tasks sent, {len(accepted)} accepted")
        # the faults go on while tasks run (held refunds are approved in their rounds), at
        # least until the bus and the engine were killed and one round of approvals was
        # given, at most until the plan's end
        while faults.is_alive() and time.monotonic() - log.began < plan.until:
            time.sleep(2.0)
            planned = (
                faults.nats_done and faults.engine_done and faults.log.counts["approval_rounds"]
            )
            if planned and running(desk, accepted) == 0:
                break
        faults.stop.set()
        faults.join(timeout=60)
        log.note("faults stopped; approving what waits and letting the rest finish")
        open_ = settle(desk, accepted, quiet=options.settle, approve=True)
        log.note(f"settled: {len(open_)} tasks still open")
        figures = count(desk, jobs, accepted)
        elapsed = time.monotonic() - log.began
        figures.update(
            {
                "options": asdict(options),
                "plan": asdict(plan),
                "faults": dict(log.counts),
                "fault_errors": faults.errors,
                "events": log.events,
                "apply_s": round(applied, 1),
                "run_s": round(elapsed, 1),
                "load": [load_before, loadavg()],
                "uptime": subprocess.run(
                    ["uptime"], capture_output=True, text=True, check=False
                ).stdout.strip(),
            }
        )
        return figures
    finally:
        if faults is not None:
            faults.stop.set()
            faults.join(timeout=60)
        desk.teardown()


def missed(figures: dict[str, Any]) -> list[str]:
    """The targets a run missed, as sentences."""
    problems = []
    for key, what in (
        ("lost", "tasks lost"),
        ("failed_without_reason", "failures without a reason"),
        ("duplicated_answers", "duplicated answers"),
        ("duplicated_refunds", "duplicated refunds"),
        ("answered_issued_but_unpaid", "answers saying a refund was issued that was not paid"),
        ("waiting_for_approval", "requests left waiting for approval"),
        ("pending_requests_of_ended_tasks", "pending requests of tasks that ended"),
    ):
        if figures[key]:
            problems.append(f"{figures[key]} {what}")
    if figures["accepted"] != figures["sent"]:
        problems.append(f"{figures['sent'] - figures['accepted']} tasks never accepted")
    if figures["fault_errors"]:
        problems.append(f"the faults stopped early: {figures['fault_errors']}")
    return problems


def report(figures: dict[str, Any]) -> str:
    lines = [
        f"tasks sent {figures['sent']}, accepted {figures['accepted']}, completed"
        f" {figures['completed']}, failed with a reason {figures['failed_with_reason']} (of"
        f" which outcome unknown {figures['failed_unknown_outcome']}), failed without a reason"
        f" {figures['failed_without_reason']}, lost {figures['lost']}",
        f"duplicated answers {figures['duplicated_answers']}, refunds paid"
        f" {figures['refunds_paid']} (small {figures['refunds_paid_small']}, large"
        f" {figures['refunds_paid_large']}), duplicated refunds {figures['duplicated_refunds']},"
        f" answered 'issued' but unpaid {figures['answered_issued_but_unpaid']}, still waiting"
        f" for approval {figures['waiting_for_approval']} (requests of ended tasks"
        f" {figures['pending_requests_of_ended_tasks']})",
        f"delegated to billing: {figures['delegated']}, of the failed outcome unknown"
        f" {figures['delegated_failed_unknown_outcome']}",
        f"faults: {figures['faults']}{'; errors: ' if figures['fault_errors'] else ''}"
        f"{'; '.join(figures['fault_errors'])}",
        f"apply {figures['apply_s']}s, run {figures['run_s']}s; load {figures['load'][0]} ->"
        f" {figures['load'][1]}; {figures['uptime']}",
    ]
    for title, key in (
        ("failed", "failed_reasons"),
        ("billing failed", "delegated_failed_reasons"),
    ):
        for reason, n in figures[key].items():
            lines.append(f"  {title} x{n}: {reason}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000, help="tasks to send (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="draws the tasks and the kills")
    parser.add_argument("--kill-every", type=float, default=2.0, help="seconds between kills")
    parser.add_argument("--rate", type=float, default=20.0, help="tasks sent per second")
    parser.add_argument(
        "--settle", type=float, default=300.0, help="seconds without progress before giving up"
    )
    parser.add_argument("--quick", action="store_true", help="100 tasks, 10 a second")
    parser.add_argument("--json", type=Path, default=OUT, help=f"default {OUT}")
    args = parser.parse_args(argv)
    options = Options(
        tasks=100 if args.quick else args.tasks,
        seed=args.seed,
        kill_every=args.kill_every,
        rate=10.0 if args.quick else args.rate,
        settle=args.settle,
        quick=args.quick,
    )
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        figures = run(options, Path(tmp))
    print(report(figures))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2))
    problems = missed(figures)
    for problem in problems:
        print(f"MISSED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
