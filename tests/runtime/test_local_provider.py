"""The ``local`` provider against a real engine: the conformance suite, drift, and plan's manners.

``read`` must report what really runs (an agent with fewer live workers reads back with fewer
replicas), ``plan`` must show an out-of-band change as drift and ``apply`` undo it, and reading
must never start an engine.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from agentform_providers.local import LocalProvider

from agentform.provider import ObservedResource, Provider, ProviderContext, ResourceValue
from agentform.testing import run_conformance
from tests.runtime.project import AGENTFORM, Project, open_project, processes_of, wait_for

MODEL = {"provider": "scripted", "script": "scripts/m.yaml"}
SPEC = {
    "models": {"m": MODEL},
    "agents": {"helper": {"model": "m", "instructions": "Help."}},
    "access": {"roles": {"users": ["invoke:helper"]}, "members": {"tester": ["users"]}},
}
SCRIPTS = {"m": [{"reply": "ok"}]}


def test_local_provider_passes_the_conformance_suite(tmp_path: Path) -> None:
    with open_project(tmp_path) as project:
        project.write(SPEC, SCRIPTS)
        context = ProviderContext("rt", "default", str(tmp_path))

        def drift(provider: Provider, observed: ObservedResource) -> None:
            # behind the provider's back: straight to the engine's API
            changed = {**observed.values, "temperature": 1.5}
            project.client.request(
                "PUT", f"/v1/resources/{observed.address}", body={"values": changed}
            )

        run_conformance(
            lambda: LocalProvider(context=context),
            ResourceValue.of("model.m", MODEL),
            ResourceValue.of("model.m", {**MODEL, "temperature": 0.2}),
            drift,
        )
        # deleting the last resource stops the engine: nothing is left running
        wait_for(lambda: not processes_of(tmp_path), 15, "the engine to stop by itself")


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    with open_project(tmp_path_factory.mktemp("local")) as project:
        project.write(SPEC, SCRIPTS)
        project.apply()
        project.wait_ready("helper")
        yield project


def test_plan_after_apply_is_empty(applied: Project) -> None:
    done = applied.cli("plan", "--detailed-exitcode")
    assert done.returncode == 0, done.stdout + done.stderr


def test_missing_workers_are_drift_that_apply_restores(applied: Project) -> None:
    # out of band: the agent's workers are all stopped (replicas 0 behind the provider's back)
    values = applied.client.request("GET", "/v1/resources")["agent.helper"]
    values = {k: v for k, v in values.items() if k != "status"}
    applied.client.request(
        "PUT", "/v1/resources/agent.helper", body={"values": {**values, "replicas": 0}}
    )
    wait_for(lambda: not applied.worker_pids("helper"), 15, "helper's workers to stop")
    provider = LocalProvider(context=ProviderContext("rt", "default", str(applied.dir)))
    observed = provider.read("agent.helper", "agent.helper")
    assert observed is not None and observed.values["replicas"] == 0

    plan = applied.cli("plan", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "agent.helper" in plan.stdout and "replicas" in plan.stdout

    applied.apply()
    applied.wait_ready("helper")
    assert len(applied.worker_pids("helper")) == 1
    assert applied.cli("plan", "--detailed-exitcode").returncode == 0
    assert applied.cli("send", "helper", "still there?").stdout == "ok\n"


def test_plan_without_an_engine_does_not_start_one(tmp_path: Path) -> None:
    with open_project(tmp_path) as project:
        project.write(SPEC, SCRIPTS)
        done = project.cli("plan", "--detailed-exitcode")
        assert done.returncode == 2, done.stdout + done.stderr
        assert "agent.helper" in done.stdout
        assert not processes_of(tmp_path)
        assert not (project.client.dir / "engine.json").exists()


def test_apply_that_asks_first_starts_no_engine_when_the_answer_is_no(tmp_path: Path) -> None:
    """Only an apply that will carry out its plan (``--auto-approve``) starts the engine while
    it plans; one that asks and is told no leaves nothing running."""
    with open_project(tmp_path) as project:
        project.write(SPEC, SCRIPTS)
        done = subprocess.run(
            [AGENTFORM, "apply"],
            cwd=tmp_path,
            input="no\n",
            capture_output=True,
            text=True,
            timeout=90,
            env={**os.environ, "NO_COLOR": "1"},
            check=False,
        )
        assert done.returncode != 0 and "agent.helper" in done.stdout, done.stdout + done.stderr
        time.sleep(1.0)  # an engine started in the background would be up by now
        assert not processes_of(tmp_path)


def test_warm_up_starts_one_engine_that_reads_empty_until_the_changes_begin(
    tmp_path: Path,
) -> None:
    with open_project(tmp_path) as project:
        project.write(SPEC, SCRIPTS)
        provider = LocalProvider(context=ProviderContext("rt", "default", str(tmp_path)))
        provider.warm_up()
        assert provider.list("model") == []  # while it starts: no error, nothing of ours runs
        provider.begin_run({"operation": "apply"})
        made = provider.create(ResourceValue.of("model.m", MODEL))  # waits for the start
        assert made.values["provider"] == "scripted"
        assert [o.address for o in provider.list("model")] == ["model.m"]
        engines = [cmd for _, cmd in processes_of(tmp_path) if "runtime engine" in cmd]
        assert len(engines) == 1, engines
        provider.delete(made)
        wait_for(lambda: not processes_of(tmp_path), 15, "the engine to stop by itself")


def test_an_imported_agent_plans_no_changes(applied: Project) -> None:
    # what the engine reports about a running agent (its workers' status) is no value of it:
    # recorded by import, it came back in the next plan as an update of 'status'
    done = applied.cli("state", "rm", "agent.helper")
    assert done.returncode == 0, done.stdout + done.stderr
    done = applied.cli("import", "agent.helper", "agent.helper")
    assert done.returncode == 0, done.stdout + done.stderr
    state = applied.cli("state", "show", "agent.helper")
    assert state.returncode == 0 and "status" not in state.stdout, state.stdout
    plan = applied.cli("plan", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "No changes" in plan.stdout
