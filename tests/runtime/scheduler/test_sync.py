"""A leader's pass over the schedules in a real runtime store (SQLite and PostgreSQL): the job
store is read and written only when what is declared or paused changed, or after FULL_SYNC_S
all the same; otherwise each pass read a job per schedule on the engine's event loop."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import event

from agentform.contract.received import ScheduleValue
from agentform.runtime.bus import BusLayout
from agentform.runtime.scheduler import schedules as schedules_module
from agentform.runtime.scheduler.schedules import Schedules


def test_a_pass_touches_the_job_store_only_when_something_changed(
    runtime_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = f"p{uuid.uuid4().hex[:8]}"

    async def submit(name: str, agent: str, text: str) -> str:
        return "task"

    async def main() -> dict[str, Any]:
        found: dict[str, Any] = {}
        schedules = Schedules(
            project, link=lambda: (None, BusLayout(project=project)), submit=submit
        )
        await schedules.attach(runtime_url)
        try:
            assert schedules.jobs is not None and schedules.book is not None
            statements: list[str] = []

            def count(*args: Any) -> None:
                statements.append(str(args[2]))

            event.listen(schedules.jobs.store.engine, "before_cursor_execute", count)
            value = {"agent": "a", "cron": "0 3 * * *", "input": "nightly"}
            schedules.declared["nightly"] = ScheduleValue.model_validate(value)

            async def one_pass() -> int:
                before = len(statements)
                await schedules._sync()
                return len(statements) - before

            found["first"] = await one_pass()
            found["job"] = schedules.jobs.next_run("nightly")
            found["unchanged"] = await one_pass()
            # a pause, recorded by any engine: the next pass acts on it
            await asyncio.to_thread(schedules.book.set_paused, "nightly", True)
            found["paused"] = await one_pass()
            found["paused_job"] = schedules.jobs.next_run("nightly")
            found["paused_again"] = await one_pass()
            # a changed schedule (apply): a new job
            changed = {**value, "cron": "0 4 * * *"}
            schedules.declared["nightly"] = ScheduleValue.model_validate(changed)
            await asyncio.to_thread(schedules.book.set_paused, "nightly", False)
            found["changed"] = await one_pass()
            found["changed_job"] = schedules.jobs.next_run("nightly")
            # following, then leading again: the other engine may have changed the jobs
            await schedules._follow()
            found["after_following"] = await one_pass()
            monkeypatch.setattr(schedules_module, "FULL_SYNC_S", 0.0)
            found["full"] = await one_pass()
        finally:
            await schedules.stop()
            schedules.close()
        return found

    found = asyncio.run(main())
    assert found["first"] > 0 and found["job"] is not None and found["job"].hour in (3, 4)
    assert found["unchanged"] == 0
    assert found["paused"] > 0 and found["paused_job"] is None
    assert found["paused_again"] == 0
    assert found["changed"] > 0 and found["changed_job"] is not None
    assert found["changed_job"].astimezone().hour != found["job"].astimezone().hour
    assert found["after_following"] > 0
    assert found["full"] > 0
