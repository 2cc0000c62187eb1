"""The command line as users and CI run it: output, formats and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from agentform.cli import cli
from tests.conftest import BASE_SPEC, WriteSpec

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--no-color", *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_valid_spec_exits_zero_with_summary(write_spec: WriteSpec) -> None:
    write_spec()
    code, out = run("validate")
    assert code == 0
    assert "is valid: 1 agent, 1 model, 1 tool, 1 memory store" in out


def test_invalid_spec_shows_source_line_caret_and_hint(write_spec: WriteSpec) -> None:
    write_spec(BASE_SPEC.replace("tools: [kb]", "tools: [kbb]"))
    code, out = run("validate", "agentform.yaml")
    assert code == 1
    assert "error[AF201]: agent 'triage' refers to unknown tool 'kbb'" in out
    assert "--> agentform.yaml:13:13" in out
    assert "13 |     tools: [kbb]" in out
    assert "   |             ^^^" in out
    assert "hint: did you mean 'kb'?" in out
    assert "is invalid: 1 error" in out


def test_strict_fails_on_warnings(write_spec: WriteSpec) -> None:
    write_spec(
        BASE_SPEC.replace("    memory: [notes]\n", "    memory: [notes]\n  lonely: {model: fast}\n")
    )
    assert run("validate")[0] == 0
    assert run("validate", "--strict")[0] == 1


def test_every_environment_is_checked_without_env(write_spec: WriteSpec) -> None:
    write_spec(BASE_SPEC + "environments:\n  prod: {agents: {triage: {replicas: many}}}\n")
    code, out = run("validate")
    assert code == 1
    assert "(in environment 'prod')" in out
    assert run("validate", "--env", "prod")[0] == 1


@pytest.mark.parametrize("fmt", ["json", "sarif", "github"])
def test_machine_formats(write_spec: WriteSpec, fmt: str) -> None:
    write_spec(BASE_SPEC.replace("tools: [kb]", "tools: [kbb]"))
    code, out = run("validate", "--format", fmt)
    assert code == 1
    if fmt == "json":
        report = json.loads(out)
        assert report["valid"] is False
        assert [d["code"] for d in report["diagnostics"]] == ["AF201"]
    elif fmt == "sarif":
        log = json.loads(out)
        schema = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
        jsonschema.Draft4Validator(schema).validate(log)
        assert log["version"] == "2.1.0"
        assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["AF201"]
    else:
        assert out.startswith("::error file=agentform.yaml,line=13,col=13")


def test_output_file(write_spec: WriteSpec, tmp_path: Path) -> None:
    write_spec()
    code, _ = run("validate", "--format", "sarif", "--output", "report.sarif")
    assert code == 0
    assert json.loads((tmp_path / "report.sarif").read_text())["runs"][0]["results"] == []


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "no/such/dir"],
        ["validate", "--format", "xml"],
        ["validate", "--var", "x"],
        ["nonsense"],
        ["graph", "--format", "png"],
    ],
    ids=["missing-path", "bad-format", "bad-var", "unknown-command", "bad-graph-format"],
)
def test_usage_errors_exit_two(write_spec: WriteSpec, args: list[str]) -> None:
    write_spec()
    code, out = run(*args)
    assert code == 2
    assert "Error" in out
    assert "Traceback" not in out


def test_graph_formats(write_spec: WriteSpec) -> None:
    write_spec()
    code, out = run("graph")
    assert code == 0
    assert "n_agent_triage -> n_model_fast;" in out
    code, out = run("graph", "--format", "mermaid", "--view", "coordination")
    assert code == 0
    assert out.startswith("flowchart LR")
    code, out = run("graph", "--format", "text")
    assert out.splitlines()[-1].split() == ["3", "agent.triage"]


def test_graph_of_invalid_spec_fails(write_spec: WriteSpec) -> None:
    write_spec(BASE_SPEC.replace("model: fast", "model: slow"))
    assert run("graph")[0] == 1


def test_schema_check_detects_stale(tmp_path: Path) -> None:
    target = tmp_path / "schema.json"
    assert run("schema", "--check", "--path", str(target))[0] == 1
    assert run("schema", "--write", "--path", str(target))[0] == 0
    assert run("schema", "--check", "--path", str(target))[0] == 0
    target.write_text(target.read_text().replace("agent", "agnet", 1))
    assert run("schema", "--check", "--path", str(target))[0] == 1


def test_help_on_every_command() -> None:
    for command in cli.commands:
        code, out = run(command, "--help")
        assert code == 0
        assert len(out.splitlines()) > 5, command


def test_entry_points_run_as_module_and_script(write_spec: WriteSpec) -> None:
    write_spec()
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "agentform", "validate"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "is valid" in proc.stdout


def test_validate_process_flushes_everything_before_its_fast_exit(
    write_spec: WriteSpec, tmp_path: Path
) -> None:
    """The console script ends `validate` with os._exit: all output must be out first, to a
    pipe (block-buffered) and to --output, with the right exit status."""
    write_spec(BASE_SPEC.replace("tools: [kb]", "tools: [kbb]"))
    env = {**os.environ, "NO_COLOR": "1"}
    run = [sys.executable, "-m", "agentform", "validate"]
    proc = subprocess.run(
        [*run, "-f", "json"], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)  # complete, not cut off in a buffer
    assert report["valid"] is False and report["error_count"] == 1
    out = tmp_path / "report.sarif"
    proc = subprocess.run(
        [*run, "-f", "sarif", "-o", str(out)], capture_output=True, env=env, check=False
    )
    assert proc.returncode == 1
    assert json.loads(out.read_text())["runs"][0]["results"][0]["ruleId"]
    proc = subprocess.run(run, capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 1 and "kbb" in proc.stdout and proc.stdout.endswith("\n")


def test_reading_a_spec_does_not_import_the_models() -> None:
    """Reading starts before the models, checks and templates are imported (they are imported
    while other CPUs parse a large file); the package still offers them by name."""
    code = (
        "import sys, agentform.spec as s\n"
        "assert 'pydantic' not in sys.modules and 'jinja2' not in sys.modules, 'eager'\n"
        "assert s.load_spec.__module__ == 'agentform.spec.loader'\n"
        "assert s.Spec.__name__ == 'Spec' and 'pydantic' in sys.modules\n"
        "try:\n    s.nothing\nexcept AttributeError as e:\n    print(e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "has no attribute 'nothing'" in proc.stdout
