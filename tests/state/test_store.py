"""StateStore on both backends: serials, compare-and-set, faults, locks across processes."""

from __future__ import annotations

import ast
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, update

from agentform.state import (
    LineageMismatch,
    LockNotFound,
    RecordedResource,
    StateConflict,
    StateCorrupt,
    StateError,
    StateLocked,
    StateSnapshot,
    StateStore,
    empty,
    open_store,
)
from agentform.state.tables import lock_table, state_table

ROOT = Path(__file__).resolve().parents[2]
AGENT = RecordedResource(kind="agent", name="triage", provider="local", id="a1", values={"n": 1})


@pytest.fixture
def project() -> str:
    # the PostgreSQL database is shared by the session: each test gets its own project
    return f"demo-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def store(state_url: str, project: str, tmp_path: Path) -> Iterator[StateStore]:
    with open_store(state_url, project, "dev", tmp_path) as opened:
        yield opened


def other_store(state_url: str, project: str, tmp_path: Path) -> StateStore:
    return open_store(state_url, project, "dev", tmp_path)


def write_serials(store: StateStore, count: int) -> list[StateSnapshot]:
    written, snapshot = [], empty(store.project, store.environment)
    for n in range(count):
        snapshot = snapshot.next({f"agent.a{n}": AGENT}, spec_revision=f"rev{n + 1}")
        store.write(snapshot, expected_serial=n)
        written.append(snapshot)
    return written


def execute(state_url: str, statement: object) -> None:
    engine = create_engine(state_url)
    try:
        with engine.begin() as conn:
            conn.execute(statement)  # type: ignore[call-overload]
    finally:
        engine.dispose()


def test_empty_store(store: StateStore) -> None:
    assert store.read() is None
    assert store.history() == []


def test_write_read_history(store: StateStore) -> None:
    written = write_serials(store, 3)
    assert store.read() == written[-1]
    assert [store.read_serial(n) for n in (1, 2, 3)] == written
    history = store.history()
    assert [(h.serial, h.summary) for h in history] == [
        (1, "1 resource, spec rev1"),
        (2, "1 resource, spec rev2"),
        (3, "1 resource, spec rev3"),
    ]
    assert all(h.written_at.tzinfo is UTC for h in history)


def test_environments_and_projects_are_separate(
    store: StateStore, state_url: str, project: str, tmp_path: Path
) -> None:
    write_serials(store, 2)
    with open_store(state_url, project, "prod", tmp_path) as prod:
        assert prod.read() is None
    with open_store(state_url, project + "-x", "dev", tmp_path) as other:
        assert other.history() == []


@pytest.mark.parametrize(
    ("expected", "latest"), [(0, 2), (1, 2), (3, 2)], ids=["from-nothing", "behind", "ahead"]
)
def test_write_refuses_a_stale_expected_serial(
    store: StateStore, expected: int, latest: int
) -> None:
    written = write_serials(store, 2)
    stale = StateSnapshot.model_validate(
        written[-1].model_dump() | {"serial": expected + 1, "resources": {}}
    )
    with pytest.raises(StateConflict) as caught:
        store.write(stale, expected_serial=expected)
    assert str(caught.value) == (
        f"this write was based on state serial {expected}, but state is now {latest}: another "
        'run changed it meanwhile; nothing was written. Run "agentform plan" again.'
    )
    assert store.read() == written[-1]


def test_serial_must_follow_expected(store: StateStore) -> None:
    with pytest.raises(ValueError, match="does not follow"):
        store.write(empty(store.project, "dev").next().next(), expected_serial=0)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"lineage": str(uuid.uuid4())}, "has lineage"),
        ({"project": "someone-else"}, "is for project 'someone-else'"),
        ({"environment": "prod"}, "environment 'prod'"),
    ],
    ids=["lineage", "project", "environment"],
)
def test_a_snapshot_from_another_state_is_refused(
    store: StateStore, change: dict[str, str], needle: str
) -> None:
    written = write_serials(store, 1)
    foreign = StateSnapshot.model_validate(written[-1].next().model_dump() | change)
    with pytest.raises(LineageMismatch, match="nothing was written") as caught:
        store.write(foreign, expected_serial=1)
    assert needle in str(caught.value)
    assert store.history()[-1].serial == 1


def test_corrupt_row_is_reported_and_can_be_rolled_back(store: StateStore, state_url: str) -> None:
    written = write_serials(store, 2)
    execute(
        state_url,
        update(state_table)
        .where(state_table.c.project == store.project, state_table.c.serial == 2)
        .values(body='{"version": 1, "lineage": trunc'),
    )
    with pytest.raises(StateCorrupt, match=r"state serial 2 is corrupt.*state history"):
        store.read()
    assert [h.serial for h in store.history()] == [1, 2]
    # roll back: the last good serial becomes serial 3, serial 2 stays as it was
    good = store.read_serial(1)
    rollback = StateSnapshot.model_validate(good.model_dump() | {"serial": 3})
    store.write(rollback, expected_serial=2)
    assert store.read() == rollback
    assert store.read_serial(1) == written[0]
    with pytest.raises(StateCorrupt):
        store.read_serial(2)


def test_read_serial_that_does_not_exist(store: StateStore) -> None:
    write_serials(store, 1)
    with pytest.raises(StateError, match="there is no state serial 7"):
        store.read_serial(7)


# -- locks -------------------------------------------------------------------------------------


def test_lock_held_fails_at_once_naming_the_holder(
    store: StateStore, state_url: str, project: str, tmp_path: Path
) -> None:
    with store.lock("apply") as held, other_store(state_url, project, tmp_path) as second:
        started = time.monotonic()
        with pytest.raises(StateLocked) as caught, second.lock("apply"):
            pass
        assert time.monotonic() - started < 2
        message = str(caught.value)
        assert f"@{socket.gethostname()} (pid {os.getpid()}, apply)" in message
        assert f'"agentform force-unlock {held.id}"' in message
        assert caught.value.holder == held
        assert second.current_lock() == held
    with store.lock("apply"):
        pass
    assert store.current_lock() is None


def test_writing_under_the_lock(store: StateStore) -> None:
    with store.lock("apply"):
        write_serials(store, 2)
    assert store.read() is not None


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _lock_row(store: StateStore, host: str, pid: int, expires_at: datetime) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "project": store.project,
        "environment": store.environment,
        "id": "stale-1",
        "owner": "bob",
        "host": host,
        "pid": pid,
        "operation": "apply",
        "since": now - timedelta(hours=2),
        "expires_at": expires_at,
    }


def test_a_stale_lock_row_from_a_dead_pid_is_taken_over(store: StateStore, state_url: str) -> None:
    row = _lock_row(
        store, socket.gethostname(), _dead_pid(), datetime.now(UTC) + timedelta(hours=1)
    )
    execute(state_url, insert(lock_table).values(**row))
    with store.lock("apply") as held:
        assert store.current_lock() == held


@pytest.mark.parametrize(
    ("minutes", "taken"), [(-1, True), (10, False)], ids=["expired", "unexpired"]
)
def test_sqlite_lock_from_another_host_lapses_at_expiry(
    tmp_path: Path, minutes: int, taken: bool
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with open_store(url, "demo", "dev", tmp_path) as store:
        expires = datetime.now(UTC) + timedelta(minutes=minutes)
        execute(url, insert(lock_table).values(**_lock_row(store, "elsewhere", 1, expires)))
        if taken:
            with store.lock("apply"):
                pass
        else:
            with pytest.raises(StateLocked, match="bob@elsewhere"), store.lock("apply"):
                pass


def test_writes_push_the_lock_expiry_forward(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with open_store(url, "demo", "dev", tmp_path, lock_ttl=timedelta(seconds=1)) as store:
        engine = create_engine(url)
        try:
            with store.lock("apply"):
                with engine.connect() as conn:
                    before = conn.execute(lock_table.select()).one().expires_at
                time.sleep(0.01)
                write_serials(store, 1)
                with engine.connect() as conn:
                    after = conn.execute(lock_table.select()).one().expires_at
        finally:
            engine.dispose()
    assert after > before


def test_force_unlock(store: StateStore, state_url: str, project: str, tmp_path: Path) -> None:
    with store.lock("apply") as held, other_store(state_url, project, tmp_path) as admin:
        with pytest.raises(LockNotFound, match="is not the current lock"):
            admin.force_unlock("wrong-id")
        assert admin.force_unlock(held.id) == held
        with admin.lock("apply") as mine:
            assert admin.current_lock() == mine
    with pytest.raises(LockNotFound, match="the state is not locked"):
        store.force_unlock(held.id)


LOCKER = """
import os, sys, time
from agentform.state import StateLocked, open_store
url, project, go = sys.argv[1:4]
with open_store(url, project, "dev", ".") as store:
    while not os.path.exists(go):
        time.sleep(0.005)
    try:
        with store.lock("apply"):
            print("acquired", flush=True)
            sys.stdin.read()
    except StateLocked as exc:
        print("locked:", exc, flush=True)
"""


def start_locker(state_url: str, project: str, go: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", LOCKER, state_url, project, str(go)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def test_two_processes_race_and_exactly_one_proceeds(
    store: StateStore, state_url: str, project: str, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    lockers = [start_locker(state_url, project, go) for _ in range(2)]
    try:
        time.sleep(0.5)  # both are connected and polling for the go file
        go.touch()
        lines = [p.stdout.readline().strip() for p in lockers if p.stdout]
    finally:
        for proc in lockers:
            proc.communicate("")
    assert sorted(line.split(" ")[0] for line in lines) == ["acquired", "locked:"], lines
    assert any("(pid " in line and "apply" in line for line in lines if line.startswith("locked"))
    assert all(p.returncode == 0 for p in lockers)


def test_a_killed_holder_releases_the_lock(
    store: StateStore, state_url: str, project: str, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    go.touch()
    proc = start_locker(state_url, project, go)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "acquired"
        with pytest.raises(StateLocked, match=f"pid {proc.pid}"), store.lock("apply"):
            pass
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.communicate()
    deadline = time.monotonic() + 10
    while True:
        try:
            with store.lock("apply"):
                break
        except StateLocked:
            # PostgreSQL notices the dropped connection asynchronously
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# -- opening -----------------------------------------------------------------------------------


def test_default_url_is_a_sqlite_file_under_dot_agentform(tmp_path: Path) -> None:
    with open_store(None, "demo", "dev", tmp_path) as store:
        write_serials(store, 1)
        assert store.backend == "sqlite"
    assert (tmp_path / ".agentform" / "state.db").is_file()


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("mysql://u:secret@h/db", "unsupported state URL mysql://u:***@h/db"),
        ("postgresql://u:secret@127.0.0.1:1/db", "cannot open the state database"),
    ],
    ids=["unsupported", "unreachable"],
)
def test_bad_urls(tmp_path: Path, url: str, needle: str) -> None:
    with pytest.raises(StateError, match=r"retrying|use sqlite") as caught:
        open_store(url, "demo", "dev", tmp_path)
    assert needle in str(caught.value)
    assert "secret" not in str(caught.value)


def test_state_package_never_prints_through_the_cli() -> None:
    forbidden = {"click", "rich", "agentform.cli"}
    for path in (ROOT / "agentform" / "state").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                assert name.split(".")[0] not in forbidden and not name.startswith(
                    "agentform.cli"
                ), f"{path.name} imports {name}"


def _resource(n: int, version: int = 1) -> RecordedResource:
    return RecordedResource(
        kind="agent", name=f"a{n}", provider="local", id=f"id{n}", values={"v": version}
    )


def _resource_rows(state_url: str, project: str) -> int:
    from sqlalchemy import func, select

    from agentform.state.tables import resource_table

    engine = create_engine(state_url)
    try:
        with engine.connect() as conn:
            query = select(func.count()).where(resource_table.c.project == project)
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def test_a_serial_stores_only_what_changed(store: StateStore, state_url: str) -> None:
    # 40 serials each adding one resource: 40 resource rows, not 1 + 2 + ... + 40 = 820
    snapshot = empty(store.project, store.environment)
    resources: dict[str, RecordedResource] = {}
    written = []
    for n in range(40):
        resources[f"agent.a{n}"] = _resource(n)
        snapshot = snapshot.next(dict(resources))
        store.write(snapshot, expected_serial=n, changed=[f"agent.a{n}"])
        written.append(snapshot)
    assert _resource_rows(state_url, store.project) == 40
    # an update and a delete, each one more row at most
    resources["agent.a3"] = _resource(3, version=2)
    del resources["agent.a7"]
    snapshot = snapshot.next(dict(resources))
    store.write(snapshot, expected_serial=40)  # no hint: compared in full
    written.append(snapshot)
    assert _resource_rows(state_url, store.project) == 41
    # every serial reads back exactly as written
    assert store.read() == snapshot
    for old in written:
        assert store.read_serial(old.serial) == old


def test_bodies_written_before_row_storage_still_read(store: StateStore, state_url: str) -> None:
    # layout 1: the resources inline in the serial's body (what earlier versions wrote)
    legacy = empty(store.project, store.environment).next({"agent.a0": _resource(0)})
    execute(
        state_url,
        insert(state_table).values(
            project=store.project,
            environment=store.environment,
            serial=1,
            lineage=legacy.lineage,
            written_at=datetime.now(UTC),
            summary=legacy.summary(),
            body=legacy.model_dump_json(),
        ),
    )
    assert store.read() == legacy
    following = legacy.next({"agent.a0": _resource(0), "agent.a1": _resource(1)})
    store.write(following, expected_serial=1, changed=["agent.a1"])  # the hint is not trusted
    assert store.read() == following
    assert store.read_serial(1) == legacy
    assert _resource_rows(state_url, store.project) == 2


def test_a_corrupt_resource_row_names_the_serial(store: StateStore, state_url: str) -> None:
    from agentform.state.tables import resource_table

    write_serials(store, 1)
    execute(
        state_url,
        update(resource_table)
        .where(resource_table.c.project == store.project)
        .values(body='{"kind": 1}'),
    )
    with pytest.raises(StateCorrupt, match=r"state serial 1 is corrupt \(resource agent.a0"):
        store.read()
