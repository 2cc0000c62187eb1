"""The project's budgets on a real engine: a caller who spent their budget is refused with 429
and Retry-After before the task exists, another caller is still served, a task that runs out
mid-way fails with the reason, and the refusals are audited."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from agentform.runtime.host.client import EngineClient, EngineRequestError
from tests.runtime.project import Project, open_project


@pytest.fixture(scope="module")
def budgeted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, dict[str, str]]]:
    directory = tmp_path_factory.mktemp("budgeted")
    with open_project(directory) as project:
        spec: dict[str, Any] = {
            "models": {"script": {"provider": "scripted", "script": "scripts/echo.yaml"}},
            "agents": {"clerk": {"model": "script"}},
            "access": {
                "roles": {"users": ["invoke:clerk"]},
                "members": {"tina": ["users"], "lee": ["users"]},
            },
            # a task here is one model step: three tasks a caller, five in all, an hour
            "limits": {
                "window": "1h",
                "per_caller": {"max_steps": 3},
                "project": {"max_steps": 5},
            },
        }
        project.write(spec, {"echo": [{"reply": "echo: {{ user }}"}]})
        project.apply()
        project.wait_ready("clerk")
        tokens = {s: project.cli("tokens", "create", s).stdout.strip() for s in ("tina", "lee")}
        yield project, tokens


def _send(client: EngineClient) -> dict[str, Any]:
    found: dict[str, Any] = client.request(
        "POST", "/v1/tasks", body={"agent": "clerk", "input": "x"}
    )
    return found


def test_a_spent_budget_refuses_the_caller_then_the_project(
    budgeted: tuple[Project, dict[str, str]],
) -> None:
    project, tokens = budgeted
    tina = EngineClient(project.client.dir, token=tokens["tina"])
    lee = EngineClient(project.client.dir, token=tokens["lee"])
    for _ in range(3):
        assert project.wait_task(_send(tina)["id"])["status"] == "completed"
    with pytest.raises(EngineRequestError) as refused:
        _send(tina)
    assert refused.value.status == 429
    assert "caller tina's budget of 3 model steps per 1h is spent" in str(refused.value)
    assert "limits.per_caller.max_steps" in str(refused.value)
    for _ in range(2):  # lee is served: the project has 5 steps, tina used 3
        assert project.wait_task(_send(lee)["id"])["status"] == "completed"
    with pytest.raises(EngineRequestError) as everyone:
        _send(lee)
    assert everyone.value.status == 429
    assert "the project's budget of 5 model steps per 1h is spent" in str(everyone.value)
    audited = json.loads(project.cli("audit", "list", "--kind", "budget", "--json").stdout)
    assert [r["actor"] for r in audited] == ["lee", "tina"]  # newest first
    cli = project.cli("--token", tokens["tina"], "send", "clerk", "once more")
    assert cli.returncode == 1 and "budget" in cli.stderr, cli.stderr
