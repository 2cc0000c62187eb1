"""Benchmark the local runtime: raw JetStream, agentform end to end, recovery after SIGKILL.

Usage: .venv/bin/python benchmarks/bench_runtime.py [--quick] [--json FILE] [--cli PATH]
       [--ids time|random] [--in-flight 256] [--replicas 1,4] [--tasks N]
       [--only raw,latency,http,http-batch,bus,inbound,recovery,tools] [--rounds 5]
       [--side-effects none|idempotent|unsafe] [--server-stdio sdk|loop] [--concurrency N]

1. **raw JetStream** (the floor) with nats-py against an embedded ``nats-server`` in a temp dir:
   one file-backed work-queue stream and one durable pull consumer, like agentform's task bus
   (a ``Nats-Msg-Id`` header on every message, as agentform publishes). *Sequential*: publish
   (await the PubAck), fetch 1, ack; one at a time, so it measures the round-trip latency.
   *Pipelined*: a producer publishes in concurrent windows of 256 while a consumer fetches
   batches of 256 and acks (256 messages in flight); messages per second over the whole run.
   **The pipelined figure is "the raw figure"** the end-to-end throughput is compared with.
2. **agentform end to end**: a project written into a temp dir (one scripted-model agent, no tools,
   ``replicas: 1``, then ``replicas: 4``) is applied with ``agentform apply DIR --auto-approve``.
   Tasks are submitted through the engine's control API (``POST /v1/tasks``, one
   ``httpx2.AsyncClient`` with up to 64 connections) and completion is detected by a nats-py
   subscription to ``<prefix>.<project>.events.*`` (the worker's ``{"kind": "status"}`` event).
   Latency: one task at a time, submit (before the POST) to the status event. Throughput: N tasks
   with 256 in flight (as many as the raw pipelined run has; ``--in-flight`` to change), first
   submit to last completion, three times: submitted through the control API one task a request;
   through the control API many a request (the submissions the lanes ask for in one turn of the
   client's event loop go in one ``POST /v1/tasks {"tasks": [...]}``); then published straight to
   the agent's JetStream subject with nats-py (``agentform.runtime.bus.publish_task``: what the
   engine or a delegating agent does; the worker records the task); and, when the engine's bus
   has users, published as a program on the bus must since then (``inbound``: the ``client``
   user, the agent's inbound subject, a bearer token of ``bench-token`` made with ``POST
   /v1/tokens`` in the message, which the worker checks before it records the task). Since
   ``4d279e3`` the embedded nats-server runs with authorization: the benchmark then reads the
   engine's ``.agentform/engine/bus.json`` and connects as its ``engine`` user (events, health
   bucket, the tasks subjects) and ``client`` user (inbound); without that file (code before
   it) it connects without credentials, as it always did, and skips ``inbound``. Task and
   conversation ids are made as agentform makes them (time-ordered,
   :mod:`agentform.runtime.store.ids`;
   ``--ids random``: UUID4s, as a client with ids of its own might). Every task is then checked in
   the store (SQLite, read directly): all completed; and, when the store has an audit log, its
   records for these tasks are counted by kind.
3. **recovery after SIGKILL** (``replicas: 1``): a task whose scripted rule has ``delay: 1s`` is
   running (its ``start`` step was announced); the worker (pid from ``GET /v1/status``) is
   killed 0.2 s later. Measured: kill to the task's completion minus the model delay the new
   attempt has to wait again (1 s; the replayed task asks the model again from its last recorded
   step), and kill to the first heartbeat of the replacement worker (a subscription to the
   health bucket's ``$KV`` subject). Between kills the replacement is left to live more than
   10 s, so the supervisor's crash-loop backoff never kicks in.

4. **one MCP tool call** (``--only tools``, not in the default set): a project of two agents, one
   worker each, alike but for one tool call: ``bench`` answers at once, ``tooled``'s scripted model
   calls the ``toys`` stdio server's ``echo`` (``tests/runtime/mcp_servers/toys.py``, the ``mcp``
   SDK's server; ``--side-effects`` declared, default idempotent) and answers with its result.
   ``--server-stdio`` picks the server's stdio transport: the SDK's own (``sdk``, threads) or
   :mod:`agentform.mcp_stdio` (``loop``, the event loop); the server is the same.
   ``--concurrency`` sets both agents' ``limits.max_concurrent_tasks`` (default: the agents'
   default, 64). After a
   warm-up, ``--rounds`` rounds, each agent in turn: N tasks (default 3,000) published on
   the bus with ``--in-flight`` at once, then 200 one at a time; CPU a task per process (worker,
   its MCP server, engine, nats-server, this client). Reported: each agent's median tasks/s and
   p50/p99 at one in flight, the median of the rounds' tasks/s ratios, and what the call adds
   per process; every task's answer is checked in the store. Targets (issue 19): ratio >= 0.5,
   worker CPU added < 0.5 ms, p50 < 4 ms.

``--only`` runs some parts (``raw`` is 1.; the others are 2.'s and ``recovery``), ``--replicas``
the applies (default ``1,4``), ``--tasks`` a throughput run's tasks (default 6,000; ``--quick``
1,000). Prints a table and writes ``benchmarks/out/runtime.json``. Always tears down (``agentform
destroy --auto-approve``, then ``agentform engine stop``). Targets (from the issue): end-to-end
throughput at least 25 % of the raw figure, light-load p99 < 50 ms, recovery < 2 s.
Exit status: 0 ran (targets are reported, not enforced), 2 the runtime misbehaved.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import nats
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig

import agentform
from agentform.runtime.bus import BusLayout, TaskMessage, publish_task
from agentform.runtime.bus.server import NatsServer
from agentform.runtime.store.ids import new_id

PROJECT = "benchrt"
AGENT = "bench"
SUBJECT = "bench-token"  # the spec's member whose role may invoke AGENT (inbound tasks' token)
PREFIX = "agentform"
SLOW_DELAY = 1.0
# messages in flight in the raw pipelined run (the producer's window, the consumer's fetch), and
# by default the tasks in flight in agentform's throughput runs: the same offered load
WINDOW = 256
IN_FLIGHT = WINDOW
# the HTTP client's connections to the control API (the lanes beyond them wait for one): httpx2
# with a connection for each of 256 lanes spent 2.2-2.7 ms of CPU a request, with 64, 0.7
HTTP_CONNECTIONS = 64
THROUGHPUT_SHARE_TARGET = 0.25
P99_TARGET_MS = 50.0
RECOVERY_TARGET_S = 2.0
OUT = Path(__file__).resolve().parent / "out" / "runtime.json"

SPEC = """\
version: 1
project: {project}
description: Runtime benchmark (generated by benchmarks/bench_runtime.py).

models:
  bench-model:
    provider: scripted
    script: scripts/bench.yaml

agents:
  {agent}:
    description: Answers at once, or after 1s when the input starts with "slow".
    model: bench-model
    instructions: Answer in one word.
    replicas: {replicas}
    limits:
      max_steps: 3
      timeout: 30s

access:
  roles:
    bench-users: [invoke:{agent}]
  members:
    bench-token: [bench-users]
"""

SCRIPT = """\
rules:
  - match: {user: '^slow'}
    delay: 1s
    reply: "done slowly"
  - reply: "ok"
"""


def make_id() -> str:
    """A task or conversation id as the benchmark's client makes them: time-ordered, as
    agentform makes its own (``--ids time``, :func:`agentform.runtime.store.ids.new_id`), or random
    UUID4s, as a client with ids of its own might (``--ids random``)."""
    return new_id() if IDS == "time" else uuid.uuid4().hex


IDS = "time"


class RuntimeMisbehaved(Exception):
    """A task was lost, failed, or the engine did not come up."""


def bus_credentials(engine_dir: Path) -> dict[str, Any] | None:
    """The engine's ``bus.json`` (``{"url", "engine": {"user", "password"}, "client": {...},
    "inbound"}``) when its nats-server runs with authorization (since ``4d279e3``); None for an
    engine whose bus has no users (no file), which the benchmark joins without credentials."""
    path = engine_dir / "bus.json"
    if not path.exists():
        return None
    return dict(json.loads(path.read_text()))


async def connect_bus(url: str, bus: dict[str, Any] | None, role: str) -> Any:
    """nats-py connected as ``role`` (``engine``: every subject, so it can watch the events and
    the health bucket and publish on the tasks subjects; ``client``: what a program may do) of
    ``bus``, replies on that user's own inbox prefix (``_INBOX_<user>``, the only one it may
    read); without ``bus``, anonymously as before authorization."""
    if bus is None:
        return await nats.connect(url, allow_reconnect=False)
    user = bus[role]
    return await nats.connect(
        bus.get("url") or url,
        user=user["user"],
        password=user["password"],
        inbox_prefix=f"_INBOX_{str(user['user']).replace('.', '_')}",
        allow_reconnect=False,
    )


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- 1. raw JetStream -----------------------------------------------------------------------


async def raw_jetstream(sequential: int, pipelined: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-raw-") as tmp:
        server = NatsServer(Path(tmp) / "nats")
        url = await asyncio.to_thread(server.start)
        try:
            nc = await nats.connect(url, allow_reconnect=False)
            js = nc.jetstream()
            await js.add_stream(
                StreamConfig(
                    name="RAW",
                    subjects=["raw.tasks.*"],
                    retention=RetentionPolicy.WORK_QUEUE,
                    storage=StorageType.FILE,
                    duplicate_window=600.0,
                )
            )
            await js.add_consumer(
                "RAW",
                ConsumerConfig(
                    durable_name="raw",
                    filter_subject="raw.tasks.a",
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=2.0,
                    max_ack_pending=10_000,
                ),
            )
            sub = await js.pull_subscribe_bind(durable="raw", stream="RAW")
            payload = json.dumps(
                {"id": "x" * 32, "agent": "a", "input": "hi", "context_id": "y" * 32, "inputs": {}}
            ).encode()

            async def publish() -> None:
                await js.publish(
                    "raw.tasks.a", payload, headers={"Nats-Msg-Id": uuid.uuid4().hex}, timeout=5
                )

            # warm up
            for _ in range(50):
                await publish()
                for msg in await sub.fetch(1, timeout=1):
                    await msg.ack()
            latencies = []
            for _ in range(sequential):
                started = time.perf_counter()
                await publish()
                (msg,) = await sub.fetch(1, timeout=1)
                await msg.ack()
                latencies.append(time.perf_counter() - started)
            await nc.flush()

            async def producer() -> None:
                window = WINDOW
                for start in range(0, pipelined, window):
                    await asyncio.gather(
                        *(publish() for _ in range(min(window, pipelined - start)))
                    )

            async def consumer() -> None:
                done = 0
                while done < pipelined:
                    try:
                        msgs = await sub.fetch(WINDOW, timeout=0.5)
                    except nats.errors.TimeoutError:
                        continue
                    for msg in msgs:
                        await msg.ack()
                    done += len(msgs)
                await nc.flush()

            started = time.perf_counter()
            await asyncio.gather(producer(), consumer())
            wall = time.perf_counter() - started
            await nc.close()
        finally:
            await asyncio.to_thread(server.stop)
    ms = [x * 1000 for x in latencies]
    return {
        "sequential": {
            "n": sequential,
            "per_s": round(sequential / sum(latencies), 1),
            "p50_ms": round(pct(ms, 50), 3),
            "p99_ms": round(pct(ms, 99), 3),
        },
        "pipelined": {"n": pipelined, "per_s": round(pipelined / wall, 1), "wall_s": wall},
    }


# -- 2./3. agentform --------------------------------------------------------------------------


class Project:
    """The temp-dir project, its engine's API, and a nats-py connection watching events."""

    def __init__(self, root: Path, cli: Path) -> None:
        self.root = root
        self.cli = cli
        self.engine_dir = root / ".agentform" / "engine"
        self.waiters: dict[str, asyncio.Future[float]] = {}
        self.started: dict[str, asyncio.Future[float]] = {}
        self.beats: dict[str, float] = {}
        self.failed: list[str] = []
        self.nc: Any = None
        self.http: httpx2.AsyncClient | None = None
        self.outbox: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self.sending: set[asyncio.Future[None]] = set()
        self.store_path: Path | None = None
        # bus.json of an engine whose nats-server runs with authorization (None: no users)
        self.bus: dict[str, Any] | None = None
        self.nc_client: Any = None  # the "client" user's connection (inbound tasks)
        self.client_token: str | None = None  # a bearer token of SUBJECT, for inbound tasks

    def write(self, replicas: int) -> None:
        (self.root / "scripts").mkdir(parents=True, exist_ok=True)
        (self.root / "scripts" / "bench.yaml").write_text(SCRIPT)
        text = SPEC.format(project=PROJECT, agent=AGENT, replicas=replicas)
        (self.root / "agentform.yaml").write_text(text)

    def run_cli(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(
            [str(self.cli), *args],
            capture_output=True,
            text=True,
            cwd=self.root,
            timeout=180,
            check=False,
        )
        if check and proc.returncode != 0:
            raise RuntimeMisbehaved(
                f"agentform {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
            )
        return proc.stdout + proc.stderr

    async def apply(self, replicas: int) -> float:
        self.write(replicas)
        started = time.perf_counter()
        await asyncio.to_thread(self.run_cli, "apply", str(self.root), "--auto-approve")
        await self.connect()
        await self.wait_ready(replicas)
        return time.perf_counter() - started

    async def connect(self) -> None:
        info = json.loads((self.engine_dir / "engine.json").read_text())
        token = (self.engine_dir / "engine.token").read_text().strip()
        if self.http is None:
            self.http = httpx2.AsyncClient(
                base_url=info["api"],
                headers={"authorization": f"Bearer {token}"},
                limits=httpx2.Limits(
                    max_connections=HTTP_CONNECTIONS, max_keepalive_connections=HTTP_CONNECTIONS
                ),
                timeout=30.0,
            )
        if self.nc is None:
            self.bus = bus_credentials(self.engine_dir)
            self.nc = await connect_bus(info["bus_url"], self.bus, "engine")
            await self.nc.subscribe(f"{PREFIX}.{PROJECT}.events.*", cb=self._on_event)
            await self.nc.subscribe(f"$KV.AF_{PROJECT}_health.{AGENT}.*", cb=self._on_beat)
            await self.nc.flush()
        self.store_path = Path(info["store_url"].removeprefix("sqlite:///"))

    async def _on_event(self, msg: Any) -> None:
        now = time.perf_counter()
        task_id = msg.subject.rsplit(".", 1)[1]
        event = json.loads(msg.data)
        if event.get("kind") == "status":
            if event.get("status") != "completed":
                self.failed.append(task_id)
            fut = self.waiters.get(task_id)
            if fut is not None and not fut.done():
                fut.set_result(now)
        elif event.get("kind") == "steps" and any(
            step.get("step") == "start" for step in event.get("steps") or []
        ):
            fut = self.started.get(task_id)
            if fut is not None and not fut.done():
                fut.set_result(now)

    async def _on_beat(self, msg: Any) -> None:
        worker = msg.subject.rsplit(".", 1)[1]
        self.beats.setdefault(worker, time.perf_counter())

    async def status(self) -> dict[str, Any]:
        assert self.http is not None
        response = await self.http.get("/v1/status")
        response.raise_for_status()
        return dict(response.json())

    async def workers(self) -> list[dict[str, Any]]:
        for agent in (await self.status())["agents"]:
            if agent["agent"] == AGENT:
                return list(agent["workers"])
        return []

    async def wait_ready(self, replicas: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            workers = await self.workers()
            current = [w for w in workers if w["alive"] and w["ready"]]
            if len(current) == replicas and len(workers) == replicas:
                return
            await asyncio.sleep(0.2)
        raise RuntimeMisbehaved(f"{replicas} workers were not ready within {timeout:.0f}s")

    async def submit(self, text: str, task_id: str) -> float:
        """POST the task; returns when it was sent. The waiter is registered beforehand."""
        assert self.http is not None
        self.waiters[task_id] = asyncio.get_running_loop().create_future()
        started = time.perf_counter()
        response = await self.http.post(
            "/v1/tasks", json={"agent": AGENT, "input": text, "id": task_id}
        )
        if response.status_code != 202:
            raise RuntimeMisbehaved(f"submit answered {response.status_code}: {response.text}")
        return started

    async def submit_batched(self, text: str, task_id: str) -> float:
        """Submit through the control API, many tasks a request: the submissions asked for
        in one turn of the event loop go in one ``POST /v1/tasks {"tasks": [...]}``, as a
        client with many tasks to send does. Returns when the request was sent."""
        assert self.http is not None
        self.waiters[task_id] = asyncio.get_running_loop().create_future()
        started = time.perf_counter()
        accepted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.outbox.append(({"agent": AGENT, "input": text, "id": task_id}, accepted))
        if len(self.outbox) == 1:
            asyncio.get_running_loop().call_soon(self._send_outbox)
        await accepted
        return started

    def _send_outbox(self) -> None:
        batch, self.outbox = self.outbox[:1000], self.outbox[1000:]
        sending = asyncio.ensure_future(self._post_batch(batch))
        self.sending.add(sending)
        sending.add_done_callback(self.sending.discard)
        if self.outbox:
            asyncio.get_running_loop().call_soon(self._send_outbox)

    async def _post_batch(self, batch: list[tuple[dict[str, Any], asyncio.Future[None]]]) -> None:
        assert self.http is not None
        try:
            response = await self.http.post("/v1/tasks", json={"tasks": [t for t, _ in batch]})
            if response.status_code != 202:
                raise RuntimeMisbehaved(f"submit answered {response.status_code}: {response.text}")
        except Exception as exc:
            for _, accepted in batch:
                if not accepted.done():
                    accepted.set_exception(exc)
            return
        for _, accepted in batch:
            if not accepted.done():
                accepted.set_result(None)

    async def submit_bus(self, text: str, task_id: str) -> float:
        """Publish the task straight to the agent's JetStream subject, as another agent or a
        program on the bus does (A2A over NATS); accepted once JetStream has stored it."""
        assert self.nc is not None
        self.waiters[task_id] = asyncio.get_running_loop().create_future()
        started = time.perf_counter()
        message = TaskMessage(task_id, AGENT, text, make_id())
        await publish_task(self.nc.jetstream(), BusLayout(PROJECT, PREFIX), message)
        return started

    async def submit_inbound(self, text: str, task_id: str) -> float:
        """Publish the task as a program on the bus does when the bus has users: connected as
        the ``client`` user of ``bus.json``, on the agent's inbound subject, with a bearer token
        of ``SUBJECT`` (whose role may invoke the agent) in the message; the worker checks the
        token before it records the task. Accepted once JetStream has stored it."""
        assert self.bus is not None and self.nc_client is not None and self.client_token
        self.waiters[task_id] = asyncio.get_running_loop().create_future()
        started = time.perf_counter()
        message = TaskMessage(task_id, AGENT, text, make_id(), token=self.client_token)
        subject = str(self.bus.get("inbound") or f"{PREFIX}.{PROJECT}.inbound.AGENT")
        await self.nc_client.jetstream().publish(
            subject.replace("AGENT", AGENT),
            message.encode(),
            headers={"Nats-Msg-Id": task_id},
            timeout=5,
        )
        return started

    async def open_inbound(self) -> None:
        """The client user's connection and a token for ``SUBJECT`` (``POST /v1/tokens``)."""
        assert self.bus is not None and self.http is not None
        if self.client_token is None:
            response = await self.http.post("/v1/tokens", json={"subject": SUBJECT})
            if response.status_code not in (200, 201):
                raise RuntimeMisbehaved(f"token answered {response.status_code}: {response.text}")
            self.client_token = str(response.json()["token"])
        if self.nc_client is None:
            url = str(self.bus.get("url") or "")
            self.nc_client = await connect_bus(url, self.bus, "client")

    async def one(self, text: str = "hi") -> tuple[float, float]:
        """Submit and wait for completion: (total latency, HTTP submit latency) in seconds."""
        task_id = make_id()
        started = await self.submit(text, task_id)
        accepted = time.perf_counter()
        done = await asyncio.wait_for(self.waiters[task_id], 30)
        return done - started, accepted - started

    def check_store(self, ids: list[str]) -> dict[str, int]:
        """Every id's status, read from the runtime store directly."""
        assert self.store_path is not None
        conn = sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True, timeout=10)
        try:
            found: dict[str, int] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT status, COUNT(*) FROM agentform_tasks WHERE id IN ({marks})"
                    " GROUP BY status",
                    chunk,
                ).fetchall()
                for status, n in rows:
                    found[status] = found.get(status, 0) + n
        finally:
            conn.close()
        missing = len(ids) - sum(found.values())
        if missing:
            found["missing"] = missing
        return found

    def check_audit(self, ids: list[str]) -> dict[str, int] | None:
        """The audit records of these tasks by kind (None: the store has no audit log)."""
        assert self.store_path is not None
        conn = sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True, timeout=10)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            if "agentform_audit" not in tables:
                return None
            found: dict[str, int] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT kind, COUNT(*) FROM agentform_audit WHERE task IN ({marks})"
                    " GROUP BY kind",
                    chunk,
                ).fetchall()
                for kind, n in rows:
                    found[kind] = found.get(kind, 0) + n
        finally:
            conn.close()
        return found

    async def close(self) -> None:
        for attr in ("nc_client", "nc"):
            conn = getattr(self, attr)
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
                setattr(self, attr, None)
        if self.http is not None:
            await self.http.aclose()
            self.http = None

    def teardown(self) -> list[str]:
        notes = []
        for args in (("destroy", str(self.root), "--auto-approve"), ("engine", "stop")):
            try:
                out = self.run_cli(*args, check=False) if args[0] == "destroy" else ""
                if args[0] == "engine":
                    out = self.run_cli("engine", "stop", "--spec", str(self.root), check=False)
                notes.append(out.strip().splitlines()[-1] if out.strip() else "")
            except Exception as exc:
                notes.append(f"{args[0]} failed: {exc}")
        return notes


async def latency_run(project: Project, n: int) -> dict[str, Any]:
    for _ in range(20):  # warm up (first renders, connection setup)
        await project.one()
    totals, submits = [], []
    for _ in range(n):
        total, submit = await project.one()
        totals.append(total * 1000)
        submits.append(submit * 1000)
    return {
        "n": n,
        "p50_ms": round(pct(totals, 50), 2),
        "p99_ms": round(pct(totals, 99), 2),
        "max_ms": round(max(totals), 2),
        "submit_p50_ms": round(pct(submits, 50), 2),
        "submit_p99_ms": round(pct(submits, 99), 2),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def process_pids(project: Project) -> dict[str, list[int]]:
    status = await project.status()
    workers = [w["pid"] for a in status["agents"] for w in a["workers"] if w["alive"]]
    return {
        "engine": [int(status["pid"])],
        "workers": [int(p) for p in workers],
        "nats-server": [int(status["bus"]["nats_pid"])],
        "bench client": [os.getpid()],
    }


async def throughput_run(
    project: Project, n: int, in_flight: int, via: str = "http"
) -> dict[str, Any]:
    submit = {
        "http": project.submit,
        "http-batch": project.submit_batched,
        "bus": project.submit_bus,
        "inbound": project.submit_inbound,
    }[via]
    pids = await process_pids(project)
    cpu_before = {name: sum(map(cpu_seconds, group)) for name, group in pids.items()}
    ids = [make_id() for _ in range(n)]
    queue = iter(ids)
    totals: list[float] = []
    submits: list[float] = []

    async def lane() -> None:
        for task_id in queue:
            started = await submit("hi", task_id)
            submits.append(time.perf_counter() - started)
            done = await asyncio.wait_for(project.waiters[task_id], 120)
            totals.append(done - started)

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(in_flight)))
    wall = time.perf_counter() - started
    cpu = {
        name: round((sum(map(cpu_seconds, group)) - cpu_before[name]) / n * 1000, 3)
        for name, group in pids.items()
    }
    ms = [x * 1000 for x in totals]
    sub_ms = [x * 1000 for x in submits]
    return {
        "n": n,
        "in_flight": in_flight,
        "via": via,
        "wall_s": round(wall, 3),
        "per_s": round(n / wall, 1),
        "p50_ms": round(pct(ms, 50), 1),
        "p99_ms": round(pct(ms, 99), 1),
        "submit_p50_ms": round(pct(sub_ms, 50), 1),
        "submit_p99_ms": round(pct(sub_ms, 99), 1),
        "cpu_ms_per_task": cpu,
        "ids": ids,
    }


async def recovery_run(project: Project, repeats: int) -> dict[str, Any]:
    samples = []
    last_beat = 0.0
    ids = []
    for _ in range(repeats):
        workers = [w for w in await project.workers() if w["alive"]]
        if len(workers) != 1:
            raise RuntimeMisbehaved(f"expected one live worker, found {workers}")
        victim = workers[0]
        # the replacement must outlive the supervisor's 10 s "quick exit" window
        wait = last_beat + 11.0 - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        task_id = make_id()
        ids.append(task_id)
        project.started[task_id] = asyncio.get_running_loop().create_future()
        await project.submit("slow please", task_id)
        await asyncio.wait_for(project.started[task_id], 10)
        await asyncio.sleep(0.2)
        killed = time.perf_counter()
        os.kill(int(victim["pid"]), signal.SIGKILL)
        done = await asyncio.wait_for(project.waiters[task_id], 60)
        deadline = time.monotonic() + 30
        beat = None
        while beat is None and time.monotonic() < deadline:
            fresh = [t for w, t in project.beats.items() if w != victim["worker"] and t > killed]
            beat = min(fresh) if fresh else None
            await asyncio.sleep(0.02)
        if beat is None:
            raise RuntimeMisbehaved("no replacement worker heartbeat within 30 s of the kill")
        last_beat = beat
        project.beats.clear()
        samples.append(
            {
                "kill_to_completed_s": round(done - killed, 3),
                "task_recovery_s": round(done - killed - SLOW_DELAY, 3),
                "kill_to_heartbeat_s": round(beat - killed, 3),
            }
        )
        await project.wait_ready(1)
    rec = [s["task_recovery_s"] for s in samples]
    beats = [s["kill_to_heartbeat_s"] for s in samples]
    return {
        "repeats": repeats,
        "samples": samples,
        "task_recovery_median_s": round(statistics.median(rec), 3),
        "task_recovery_max_s": round(max(rec), 3),
        "heartbeat_median_s": round(statistics.median(beats), 3),
        "heartbeat_max_s": round(max(beats), 3),
        "ids": ids,
    }


# the parts of the agentform runs (--only): light-load latency, throughput submitted through the
# control API one task a request / many a request, published on the bus (the tasks subject, as the
# engine or a delegating agent; engine user when the bus has users), published as a program on
# the bus does when it has users (client user, inbound subject, bearer token), recovery
PARTS = ("latency", "http", "http-batch", "bus", "inbound", "recovery")
THROUGHPUT_PARTS = {
    "http": "throughput",
    "http-batch": "throughput_batch",
    "bus": "throughput_bus",
    "inbound": "throughput_inbound",
}


async def agentform_runs(
    cli: Path,
    quick: bool,
    parts: tuple[str, ...] = PARTS,
    replica_counts: tuple[int, ...] = (1, 4),
    tasks: int | None = None,
) -> dict[str, Any]:
    n_latency = 60 if quick else 300
    n_throughput = tasks or (1000 if quick else 6000)
    repeats = 2 if quick else 5
    result: dict[str, Any] = {"parts": list(parts)}
    with tempfile.TemporaryDirectory(prefix="bench-runtime-") as tmp:
        project = Project(Path(tmp), cli)
        try:
            for replicas in replica_counts:
                phase: dict[str, Any] = {}
                phase["apply_s"] = round(await project.apply(replicas), 2)
                phase["bus_users"] = project.bus is not None
                if "latency" in parts:
                    phase["latency"] = await latency_run(project, n_latency)
                ids: list[str] = []
                for part, key in THROUGHPUT_PARTS.items():
                    if part not in parts:
                        continue
                    if part == "inbound":
                        if project.bus is None:  # before authorization: no client user
                            phase[key] = {"skipped": "the bus has no users (no bus.json)"}
                            continue
                        await project.open_inbound()
                    via = {"http": "http", "http-batch": "http-batch"}.get(part, part)
                    thr = await throughput_run(project, n_throughput, IN_FLIGHT, via=via)
                    ids += thr.pop("ids")
                    phase[key] = thr
                phase["load_after"] = loadavg()
                if replicas == 1 and "recovery" in parts:
                    rec = await recovery_run(project, repeats)
                    ids += rec.pop("ids")
                    result["recovery"] = rec
                phase["store"] = await asyncio.to_thread(project.check_store, ids)
                if ids and set(phase["store"]) != {"completed"}:
                    raise RuntimeMisbehaved(f"not every task completed: {phase['store']}")
                audit = await asyncio.to_thread(project.check_audit, ids)
                if audit is not None:
                    phase["audit_records"] = audit
                    phase["audit_records_per_task"] = round(
                        sum(audit.values()) / max(1, len(ids)), 3
                    )
                result[f"replicas_{replicas}"] = phase
            if project.failed:
                raise RuntimeMisbehaved(f"{len(project.failed)} tasks failed")
            result["engine_counts"] = (await project.status())["tasks"]
        finally:
            await project.close()
            result["teardown"] = await asyncio.to_thread(project.teardown)
            await asyncio.sleep(0.5)
            result["leftovers"] = leftover_processes(Path(tmp))
    return result


def leftover_processes(root: Path) -> list[str]:
    """Processes whose command line mentions the temp project (engine, workers, nats-server)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if str(root) in cmd:
                found.append(f"{proc.name}: {cmd.strip()[:160]}")
    return found


# -- 4. one MCP tool call ---------------------------------------------------------------------

TOOLED = "tooled"  # the agent whose scripted model calls one MCP tool, beside AGENT (no tools)
TOYS = Path(__file__).resolve().parents[1] / "tests" / "runtime" / "mcp_servers" / "toys.py"
TOOL_SHARE_TARGET = 0.5  # a task with one tool call: tasks/s of one without
TOOL_CPU_TARGET_MS = 0.5  # worker CPU a tool call adds
TOOL_P50_TARGET_MS = 4.0  # a task with one tool call at one in flight

TOOL_SPEC = """\
version: 1
project: {project}
description: Runtime benchmark, one MCP tool call (generated by benchmarks/bench_runtime.py).

models:
  bench-model:
    provider: scripted
    script: scripts/bench.yaml
  echo-model:
    provider: scripted
    script: scripts/echo.yaml

tools:
  toys:
    mcp:
      command: [{python}, {server}]
      env: {{TOYS_STDIO: {stdio}}}
    side_effects: {side_effects}
    expose: [echo]

agents:
  {agent}:
    description: Answers at once.
    model: bench-model
    instructions: Answer in one word.
    replicas: 1
    limits:
      max_steps: 3
      timeout: 30s
  {tooled}:
    description: Calls the toys server's echo once, then answers with its result.
    model: echo-model
    instructions: Echo through the tool.
    tools: [toys]
    replicas: 1
    limits:
      max_steps: 4
      timeout: 30s
"""

ECHO_SCRIPT = """\
rules:
  - match: {tool_result: '.'}
    reply: "{{ tool_result }}"
  - call: {tool: echo, arguments: {text: "{{ user }}"}}
"""


def children_of(pid: int) -> list[int]:
    """The direct children of a process (a worker's MCP server)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((entry / "stat").read_text().rpartition(")")[2].split()[1]) == pid:
                    out.append(int(entry.name))
    return out


class ToolProject(Project):
    """Two agents alike but for one MCP tool call: ``bench`` answers at once, ``tooled``
    calls the ``toys`` server's ``echo`` (stdio, the ``mcp`` SDK) and answers with its result."""

    side_effects = "idempotent"
    server_stdio = "sdk"  # the toys server on the SDK's stdio transport, or agentform.mcp_stdio
    concurrency: int | None = None  # the agents' max_concurrent_tasks (None: their default)

    def write(self, replicas: int) -> None:
        (self.root / "scripts").mkdir(parents=True, exist_ok=True)
        (self.root / "scripts" / "bench.yaml").write_text(SCRIPT)
        (self.root / "scripts" / "echo.yaml").write_text(ECHO_SCRIPT)
        (self.root / "server.py").write_text(TOYS.read_text())
        text = TOOL_SPEC.format(
            project=PROJECT,
            agent=AGENT,
            tooled=TOOLED,
            python=json.dumps(sys.executable),
            server=json.dumps(str(self.root / "server.py")),
            side_effects=self.side_effects,
            stdio=self.server_stdio,
        )
        if self.concurrency is not None:
            limit = f"      max_concurrent_tasks: {self.concurrency}\n"
            text = text.replace("      timeout: 30s\n", "      timeout: 30s\n" + limit)
        (self.root / "agentform.yaml").write_text(text)

    async def wait_ready(self, replicas: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            agents = (await self.status())["agents"]
            if len(agents) == 2 and all(a["running"] >= replicas for a in agents):
                return
            await asyncio.sleep(0.2)
        raise RuntimeMisbehaved("the two agents were not ready within {timeout:.0f}s")

    async def _on_event(self, msg: Any) -> None:
        event = json.loads(msg.data)
        if event.get("kind") == "status" and event.get("status") in ("submitted", "working"):
            return
        await super()._on_event(msg)

    async def send(self, agent: str, task_id: str) -> float:
        """Publish a task for ``agent`` on the bus (as ``submit_bus``); when it was sent."""
        assert self.nc is not None
        self.waiters[task_id] = asyncio.get_running_loop().create_future()
        started = time.perf_counter()
        message = TaskMessage(task_id, agent, "hi", make_id())
        await publish_task(self.nc.jetstream(), BusLayout(PROJECT, PREFIX), message)
        return started

    async def pids(self, agent: str) -> dict[str, list[int]]:
        status = await self.status()
        [found] = [a for a in status["agents"] if a["agent"] == agent]
        workers = [int(w["pid"]) for w in found["workers"] if w["alive"]]
        return {
            "worker": workers,
            "mcp server": [c for w in workers for c in children_of(w)],
            "engine": [int(status["pid"])],
            "nats-server": [int(status["bus"]["nats_pid"])],
            # this process: it sends the tasks and reads every event the workers announce
            "bench client": [os.getpid()],
        }

    def results(self, ids: list[str]) -> dict[str, int]:
        """The results of these tasks, counted (read from the store directly)."""
        assert self.store_path is not None
        conn = sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True, timeout=10)
        found: dict[str, int] = {}
        try:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT status, result, COUNT(*) FROM agentform_tasks WHERE id IN ({marks})"
                    " GROUP BY status, result",
                    chunk,
                ).fetchall()
                for status, result, n in rows:
                    key = f"{status}: {result}"
                    found[key] = found.get(key, 0) + n
        finally:
            conn.close()
        return found


async def tool_runs(cli: Path, quick: bool, tasks: int | None, rounds: int) -> dict[str, Any]:
    """``bench`` and ``tooled`` in interleaved rounds: each round, N tasks at IN_FLIGHT on the
    bus then some at one in flight, for one side then the other; CPU a task per process."""
    n = tasks or (1000 if quick else 3000)
    latency_n = 100 if quick else 200
    sides = (AGENT, TOOLED)

    async def throughput(project: ToolProject, agent: str) -> dict[str, Any]:
        group = await project.pids(agent)
        before = {k: sum(map(cpu_seconds, v)) for k, v in group.items()}
        ids = [make_id() for _ in range(n)]
        queue = iter(ids)

        async def lane() -> None:
            for task_id in queue:
                await project.send(agent, task_id)
                await asyncio.wait_for(project.waiters[task_id], 120)

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(IN_FLIGHT)))
        wall = time.perf_counter() - started
        cpu = {k: sum(map(cpu_seconds, v)) - before[k] for k, v in group.items()}
        return {"per_s": round(n / wall, 1), "wall_s": round(wall, 3), "cpu_s": cpu, "ids": ids}

    async def latency(project: ToolProject, agent: str, count: int) -> tuple[list[float], list]:
        samples, ids = [], []
        for _ in range(count):
            task_id = make_id()
            ids.append(task_id)
            started = await project.send(agent, task_id)
            done = await asyncio.wait_for(project.waiters[task_id], 60)
            samples.append((done - started) * 1e3)
        return samples, ids

    out: dict[str, Any] = {"tasks": n, "in_flight": IN_FLIGHT, "rounds": rounds}
    out["latency_n"] = latency_n
    with tempfile.TemporaryDirectory(prefix="bench-tools-") as tmp:
        root = Path(tmp).resolve()
        project = ToolProject(root, cli)
        ids: dict[str, list[str]] = {agent: [] for agent in sides}
        try:
            out["apply_s"] = round(await project.apply(1), 2)
            for agent in sides:  # warm up: MCP session, first renders, connections
                ids[agent] += (await latency(project, agent, 50))[1]
                ids[agent] += (await throughput(project, agent))["ids"]
            per_round: dict[str, list[dict[str, Any]]] = {agent: [] for agent in sides}
            samples: dict[str, list[float]] = {agent: [] for agent in sides}
            for r in range(rounds):
                for agent in sides:
                    figures = await throughput(project, agent)
                    ids[agent] += figures.pop("ids")
                    ms, more = await latency(project, agent, latency_n)
                    ids[agent] += more
                    samples[agent] += ms
                    figures["p50_ms_1_in_flight"] = round(statistics.median(ms), 2)
                    figures["load"] = loadavg()
                    per_round[agent].append(figures)
                    print(
                        f"  round {r + 1} {agent:<7} {figures['per_s']:7.1f} tasks/s  "
                        + "  ".join(f"{k} {v / n * 1e3:.3f}" for k, v in figures["cpu_s"].items())
                        + f" ms/task  p50 {figures['p50_ms_1_in_flight']:.2f} ms"
                        f"  load {figures['load']}",
                        file=sys.stderr,
                        flush=True,
                    )
            if project.failed:
                raise RuntimeMisbehaved(f"{len(project.failed)} tasks did not complete")
            out["results"] = {
                agent: await asyncio.to_thread(project.results, ids[agent]) for agent in sides
            }
            want = {AGENT: "completed: ok", TOOLED: "completed: toys:hi"}
            for agent in sides:
                if set(out["results"][agent]) != {want[agent]}:
                    raise RuntimeMisbehaved(f"{agent}: results {out['results'][agent]}")
            out["per_round"] = per_round
            for agent, runs in per_round.items():
                out[agent] = {  # medians over the rounds; latency and CPU over all the tasks
                    "per_s": round(statistics.median(r["per_s"] for r in runs), 1),
                    "p50_ms_1_in_flight": round(statistics.median(samples[agent]), 2),
                    "p99_ms_1_in_flight": round(pct(samples[agent], 99), 2),
                    "cpu_ms": {
                        k: round(sum(r["cpu_s"][k] for r in runs) / (n * rounds) * 1e3, 3)
                        for k in runs[0]["cpu_s"]
                    },
                }
        finally:
            await project.close()
            out["teardown"] = await asyncio.to_thread(project.teardown)
            await asyncio.sleep(0.5)
            out["leftovers"] = leftover_processes(root)
    plain, tooled = out[AGENT], out[TOOLED]
    ratios = [
        t["per_s"] / p["per_s"]
        for p, t in zip(out["per_round"][AGENT], out["per_round"][TOOLED], strict=True)
    ]
    out["share"] = round(statistics.median(ratios), 3)  # each round's tooled/plain, the median
    out["share_rounds"] = [round(r, 3) for r in ratios]
    out["added_cpu_ms"] = {
        k: round(tooled["cpu_ms"][k] - plain["cpu_ms"].get(k, 0.0), 3) for k in tooled["cpu_ms"]
    }
    return out


def tool_table(res: dict[str, Any]) -> str:
    """The tool-call part's rows, with its three targets."""
    plain, tooled = res[AGENT], res[TOOLED]
    added = res["added_cpu_ms"]
    rows = []
    for label, side in (("no tool", plain), ("one MCP tool call", tooled)):
        cpu = side["cpu_ms"]
        rows.append(
            f"{label:<18} {side['per_s']:8,.0f}/s  p50 {side['p50_ms_1_in_flight']:.2f} ms"
            f"  p99 {side['p99_ms_1_in_flight']:.2f} ms (1 in flight)  CPU ms a task: "
            + "  ".join(f"{k} {v:.3f}" for k, v in cpu.items())
        )
    share, worker = res["share"], added["worker"]
    p50 = tooled["p50_ms_1_in_flight"]
    rows += [
        f"tasks/s with / without (median of {res['rounds']} rounds' ratios {res['share_rounds']})"
        f": {share:.2f}  >= {TOOL_SHARE_TARGET:.2f}: {verdict(share >= TOOL_SHARE_TARGET)}",
        f"worker CPU a tool call adds: {worker:.3f} ms  < {TOOL_CPU_TARGET_MS} ms:"
        f" {verdict(worker < TOOL_CPU_TARGET_MS)}  (MCP server {added.get('mcp server', 0):.3f},"
        f" engine {added['engine']:.3f}, nats-server {added['nats-server']:.3f},"
        f" bench client {added.get('bench client', 0):.3f})",
        f"p50 at 1 in flight with a tool call: {p50:.2f} ms  < {TOOL_P50_TARGET_MS:g} ms:"
        f" {verdict(p50 < TOOL_P50_TARGET_MS)}",
    ]
    return "\n".join(rows)


# -- report ---------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def table(res: dict[str, Any]) -> str:
    raw = res.get("raw")
    raw_figure = raw["pipelined"]["per_s"] if raw else None
    rows: list[tuple[str, str, str]] = []
    if raw:
        rows += [
            (
                "raw JetStream, sequential (latency)",
                f"{raw['sequential']['per_s']:,.0f}/s  p50 {raw['sequential']['p50_ms']:.2f} ms"
                f"  p99 {raw['sequential']['p99_ms']:.2f} ms",
                "",
            ),
            ("raw JetStream, pipelined (THE raw figure)", f"{raw_figure:,.0f}/s", ""),
        ]
    af = res.get("agentform") or {}
    for key, phase in af.items():
        if not key.startswith("replicas_"):
            continue
        replicas = int(key.removeprefix("replicas_"))
        lat = phase.get("latency")
        if lat:
            rows.append(
                (
                    f"agentform {replicas} worker(s), sequential",
                    f"p50 {lat['p50_ms']:.1f} ms  p99 {lat['p99_ms']:.1f} ms"
                    f"  (HTTP submit p50 {lat['submit_p50_ms']:.1f} ms)",
                    f"p99 < {P99_TARGET_MS:.0f} ms: {verdict(lat['p99_ms'] < P99_TARGET_MS)}",
                )
            )
        for part in THROUGHPUT_PARTS.values():
            thr = phase.get(part)
            if thr is None:
                continue
            if "skipped" in thr:
                rows.append((f"agentform {replicas} worker(s), {part}", thr["skipped"], ""))
                continue
            share = thr["per_s"] / raw_figure if raw_figure else None
            rows.append(
                (
                    f"agentform {replicas} worker(s), {thr['n']} x {thr['in_flight']} in flight,"
                    f" submitted over {thr.get('via', 'http')}",
                    f"{thr['per_s']:,.0f}/s"
                    + (f" ({share:.1%} of raw)" if share is not None else "")
                    + f"  p50 {thr['p50_ms']:.0f} ms  p99 {thr['p99_ms']:.0f} ms",
                    ""
                    if share is None
                    else f">= 25 %: {'pass' if share >= THROUGHPUT_SHARE_TARGET else 'FAIL'}",
                )
            )
            cpu = thr["cpu_ms_per_task"]
            rows.append(
                (
                    "  CPU ms per task",
                    "  ".join(f"{k} {v:.2f}" for k, v in cpu.items())
                    + f"  = {sum(cpu.values()):.2f}",
                    "",
                )
            )
        if "audit_records_per_task" in phase:
            rows.append(
                (
                    f"  audit records a task ({replicas} worker(s))",
                    f"{phase['audit_records_per_task']:.2f}  {phase['audit_records']}",
                    "",
                )
            )
    rec = af.get("recovery")
    if rec:
        for label, key in (
            (
                f"SIGKILL -> task completed - {SLOW_DELAY:g}s delay (x{rec['repeats']})",
                "task_recovery",
            ),
            ("SIGKILL -> new worker heartbeating", "heartbeat"),
        ):
            median, worst = rec[f"{key}_median_s"], rec[f"{key}_max_s"]
            rows.append(
                (
                    label,
                    f"median {median:.2f} s  max {worst:.2f} s",
                    f"< {RECOVERY_TARGET_S:g} s: median {verdict(median < RECOVERY_TARGET_S)},"
                    f" max {verdict(worst < RECOVERY_TARGET_S)}",
                )
            )
    if not rows:
        return ""
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    return "\n".join(f"{a:<{width}}  {b:<{vwidth}}  {c}" for a, b, c in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (fewer tasks, 2 kills)")
    parser.add_argument("--json", type=Path, default=OUT, help=f"results file (default {OUT})")
    parser.add_argument(
        "--cli", type=Path, default=Path(sys.executable).parent / "agentform", help="agentform CLI"
    )
    parser.add_argument(
        "--skip", choices=["raw", "agentform"], action="append", default=[], help="skip a part"
    )
    parser.add_argument(
        "--ids",
        choices=["time", "random"],
        default="time",
        help="task and conversation ids the client makes: time-ordered as agentform's (default)"
        " or random UUID4s",
    )
    parser.add_argument(
        "--in-flight",
        type=int,
        default=WINDOW,
        help=f"tasks in flight in the throughput runs (default {WINDOW}: the raw run's window)",
    )
    parser.add_argument(
        "--only",
        metavar="PARTS",
        help="run only these parts, comma-separated, of raw,"
        + ",".join(PARTS)
        + ",tools (default: all but tools; 'inbound' is skipped on an engine whose bus has no"
        " users)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="tools: interleaved rounds of the two agents (default 5, --quick 2)",
    )
    parser.add_argument(
        "--side-effects",
        choices=["none", "idempotent", "unsafe"],
        default="idempotent",
        help="tools: the MCP tool's declared side effects (default idempotent)",
    )
    parser.add_argument(
        "--server-stdio",
        choices=["sdk", "loop"],
        default="sdk",
        help="tools: the toys server's stdio transport: the SDK's (threads, default) or "
        "agentform.mcp_stdio's (the event loop); the same SDK server either way",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        metavar="N",
        help="tools: both agents' limits.max_concurrent_tasks (default: the agents' default, 64)",
    )
    parser.add_argument(
        "--replicas",
        default="1,4",
        metavar="N,N",
        help="the agent's replicas, one apply each, in order (default 1,4; recovery runs at 1)",
    )
    parser.add_argument(
        "--tasks", type=int, metavar="N", help="tasks a throughput run (default 6000, --quick 1000)"
    )
    args = parser.parse_args(argv)
    global IDS, IN_FLIGHT
    IDS, IN_FLIGHT = args.ids, args.in_flight
    only = tuple(p for p in (args.only or "").split(",") if p) or ("raw", *PARTS)
    unknown = set(only) - {"raw", "tools", *PARTS}
    if unknown:
        parser.error(f"unknown part(s) {', '.join(sorted(unknown))}")
    parts = tuple(p for p in PARTS if p in only)
    if "raw" not in only:
        args.skip.append("raw")
    if not parts:
        args.skip.append("agentform")
    replica_counts = tuple(int(n) for n in args.replicas.split(",") if n)
    res: dict[str, Any] = {
        "quick": args.quick,
        "ids": args.ids,
        "in_flight": args.in_flight,
        "only": list(only),
        "agentform_code": str(Path(agentform.__file__).resolve().parent),
        "machine": {
            "nproc": os.cpu_count(),
            "python": sys.version.split()[0],
            "load_before": loadavg(),
        },
    }
    started = time.perf_counter()
    status = 0
    say: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    if "raw" not in args.skip:
        say("raw JetStream ...")
        res["raw"] = asyncio.run(
            raw_jetstream(100 if args.quick else 1000, 1000 if args.quick else 10_000)
        )
    if "agentform" not in args.skip:
        say(f"agentform end to end: {', '.join(parts)} at replicas {args.replicas} ...")
        try:
            res["agentform"] = asyncio.run(
                agentform_runs(args.cli, args.quick, parts, replica_counts, args.tasks)
            )
        except RuntimeMisbehaved as exc:
            say(f"the runtime misbehaved: {exc}")
            status = 2
    if "tools" in only and status == 0:
        say(f"one MCP tool call ({args.side_effects}) against none, interleaved rounds ...")
        ToolProject.side_effects = args.side_effects
        ToolProject.server_stdio = args.server_stdio
        ToolProject.concurrency = args.concurrency
        rounds = 2 if args.quick and args.rounds == 5 else args.rounds
        try:
            res["tools"] = asyncio.run(tool_runs(args.cli, args.quick, args.tasks, rounds))
            res["tools"]["side_effects"] = args.side_effects
            res["tools"]["server_stdio"] = args.server_stdio
            res["tools"]["concurrency"] = args.concurrency
        except RuntimeMisbehaved as exc:
            say(f"the runtime misbehaved: {exc}")
            status = 2
    res["machine"]["load_after"] = loadavg()
    res["elapsed_s"] = round(time.perf_counter() - started, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(res, indent=2))
    if "raw" in res or "agentform" in res:
        print(table(res))
    if "tools" in res:
        print(tool_table(res["tools"]))
    print(
        f"load average before {res['machine']['load_before']}, after"
        f" {res['machine']['load_after']}; {res['elapsed_s']} s; results in {args.json}"
    )
    leftovers = res.get("agentform", {}).get("leftovers") or res.get("tools", {}).get("leftovers")
    if leftovers:
        print("LEFTOVER PROCESSES:", *leftovers, sep="\n  ")
        status = 2
    return status


if __name__ == "__main__":
    sys.exit(main())
