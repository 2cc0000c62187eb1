"""One project a runtime store: the first engine claims it, an engine of another project is
refused with what to do before it writes anything, engines of one project share it (SQLite and
PostgreSQL; end to end through the CLI on SQLite)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agentform.runtime.host.client import EngineClient, engine_dir
from agentform.runtime.host.files import EngineFiles, store_url_for
from agentform.runtime.store.owner import StoreOwner, WrongProject, claim_store
from tests.runtime.project import open_project


def test_the_first_project_claims_the_store_and_keeps_it(runtime_url: str) -> None:
    first = claim_store(runtime_url, "shop", "/srv/shop")
    assert (first.project, first.claimed_from) == ("shop", "/srv/shop")
    again = claim_store(runtime_url, "shop", "/srv/shop-standby")  # a second engine: welcome
    assert again == first
    with pytest.raises(WrongProject) as refused:
        claim_store(runtime_url, "crm", "/srv/crm")
    text = str(refused.value)
    assert "belongs to project 'shop'" in text and "'crm'" in text
    assert "/srv/shop" in text and "runtime.store.url" in text
    book = StoreOwner(runtime_url)
    try:
        owner = book.owner()
    finally:
        book.close()
    assert owner is not None and owner.project == "shop"  # the refused claim changed nothing


def test_two_projects_claiming_at_once_one_wins(runtime_url: str) -> None:
    results: dict[str, Any] = {}
    start = threading.Barrier(4)

    def claim(project: str) -> None:
        start.wait()
        try:
            results[project] = claim_store(runtime_url, project, f"/srv/{project}").project
        except WrongProject as exc:
            results[project] = exc

    threads = [threading.Thread(target=claim, args=(f"p{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    winners = [p for p, r in results.items() if r == p]
    assert len(results) == 4 and len(winners) == 1
    assert all(isinstance(r, WrongProject) for p, r in results.items() if p != winners[0])


def _spec(project: str, store: Path, schedules: dict[str, Any]) -> dict[str, Any]:
    return {
        "project": project,
        "models": {"script": {"provider": "scripted", "script": "scripts/echo.yaml"}},
        "agents": {"clerk": {"model": "script"}},
        "schedules": schedules,
        "runtime": {"store": {"url": f"sqlite:///{store}"}},
    }


def test_apply_of_another_project_on_the_same_store_is_refused(tmp_path: Path) -> None:
    """Project b pointed at project a's runtime store: its apply fails with the reason and
    what to do, no traceback. a's schedule job stays (b's leader would have removed it as
    undeclared) and b's every-second schedule never fires; a's tasks still run."""
    store = tmp_path / "shared" / "runtime.db"
    store.parent.mkdir()
    with open_project(tmp_path / "a") as a, open_project(tmp_path / "b") as b:
        nightly = {"agent": "clerk", "cron": "0 3 * * *", "input": "nightly"}
        a.write(_spec("a", store, {"nightly": nightly}), {"echo": [{"reply": "a: {{ user }}"}]})
        a.apply()
        a.wait_ready("clerk")
        tick = {"agent": "clerk", "interval": "1s", "input": "tick"}
        b.write(_spec("b", store, {"tick": tick}), {"echo": [{"reply": "b: {{ user }}"}]})
        done = b.cli("apply", "--auto-approve")
        out = done.stdout + done.stderr
        assert done.returncode != 0, out
        assert "belongs to project 'a'" in out and "runtime.store.url" in out, out
        assert "Traceback" not in out, out
        task = a.submit("clerk", "hi")
        assert a.wait_task(task["id"])["result"] == "a: hi"
        time.sleep(2.5)  # b's schedule would have fired twice by now
        with sqlite3.connect(store) as conn:
            jobs = [row[0] for row in conn.execute("SELECT id FROM agentform_schedule_jobs")]
            ticks = conn.execute(
                "SELECT COUNT(*) FROM agentform_tasks WHERE caller = 'schedule:tick'"
            ).fetchone()
            owner = conn.execute("SELECT project FROM agentform_runtime_owner").fetchall()
        assert jobs == ["nightly"] and ticks == (0,) and owner == [("a",)]


def test_each_environment_has_its_own_default_store(tmp_path: Path) -> None:
    """The default store is the environment's own file: the default environment's runtime.db
    and prod's runtime-prod.db, so the two engines (projects x and x-prod to the runtime) never
    meet in one database; a store the spec names is used as named."""
    assert store_url_for(None, "default") == "sqlite:///.agentform/runtime.db"
    assert store_url_for("sqlite:///.agentform/runtime.db", "prod") == (
        "sqlite:///.agentform/runtime-prod.db"
    )
    named = "postgresql+psycopg://db/x"
    assert store_url_for(named, "prod") == named
    assert EngineFiles(tmp_path / ".agentform" / "engine").environment == "default"
    assert EngineFiles(tmp_path / ".agentform" / "engine-prod").environment == "prod"
    with open_project(tmp_path / "x") as project:
        spec = {
            "project": "x",
            "models": {"script": {"provider": "scripted", "script": "scripts/echo.yaml"}},
            "agents": {"clerk": {"model": "script"}},
            "environments": {"prod": {}},
        }
        project.write(spec, {"echo": [{"reply": "x: {{ user }}"}]})
        project.apply()
        prod = EngineClient(engine_dir(project.dir, "prod"))
        try:
            done = project.cli("apply", "--auto-approve", "--env", "prod")
            assert done.returncode == 0, done.stdout + done.stderr
            stores = {
                "default": project.engine_info()["store_url"],
                "prod": json.loads((prod.dir / "engine.json").read_text())["store_url"],
            }
            assert stores == {
                "default": f"sqlite:///{project.dir / '.agentform' / 'runtime.db'}",
                "prod": f"sqlite:///{project.dir / '.agentform' / 'runtime-prod.db'}",
            }
            task = project.submit("clerk", "hi")
            assert project.wait_task(task["id"])["result"] == "x: hi"
        finally:
            project.cli("destroy", "--auto-approve", "--allow-data-loss", "--env", "prod")
            prod.stop()
