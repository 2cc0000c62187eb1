"""``agentform init``: templates are the examples, and what it creates validates."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from agentform.cli import cli
from agentform.scaffold import SCHEMA_FILE, templates
from agentform.spec import load_spec

TEMPLATES = sorted(templates())


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--no-color", *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_templates_are_the_examples() -> None:
    assert {"hello", "support-desk", "research-crew", "scheduled-report"} <= set(TEMPLATES)
    code, out = invoke("init", "--list")
    assert code == 0
    assert all(name in out for name in TEMPLATES)


@pytest.mark.parametrize("template", TEMPLATES)
def test_init_creates_a_valid_project(tmp_path: Path, template: str) -> None:
    target = tmp_path / "my-agents"
    code, out = invoke("init", template, "--dir", str(target))
    assert code == 0, out
    main = (target / "agentform.yaml").read_text()
    assert "project: my-agents" in main
    assert main.startswith(f"# yaml-language-server: $schema={SCHEMA_FILE}")
    assert (target / SCHEMA_FILE).is_file()
    result = load_spec(target, environ={})
    assert [d for d in result.diagnostics if d.is_error] == []
    assert result.spec is not None and result.spec.project == "my-agents"


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    assert invoke("init", "hello", "--dir", str(tmp_path))[0] == 0
    code, out = invoke("init", "hello", "--dir", str(tmp_path))
    assert code == 1
    assert "already exist" in out and "--force" in out
    assert invoke("init", "hello", "--dir", str(tmp_path), "--force")[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["init", "helo"], "did you mean 'hello'?"),
        (["init", "hello", "--name", "Bad Name"], "not a valid project name"),
    ],
    ids=["unknown-template", "bad-name"],
)
def test_init_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    code, out = invoke(*args, "--dir", str(tmp_path))
    assert code == 2
    assert message in out


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (None, "# agentform's local state, engine files and runtime store\n.agentform/\n"),
        (
            "*.pyc",
            "*.pyc\n# agentform's local state, engine files and runtime store\n.agentform/\n",
        ),
        ("node_modules/\n.agentform\n", "node_modules/\n.agentform\n"),
    ],
    ids=["new", "appended", "already-ignored"],
)
def test_init_keeps_agentform_files_out_of_git(
    tmp_path: Path, before: str | None, after: str
) -> None:
    if before is not None:
        (tmp_path / ".gitignore").write_text(before)
    code, out = invoke("init", "hello", "--dir", str(tmp_path))
    assert code == 0, out
    assert (tmp_path / ".gitignore").read_text() == after
    # a second init (--force) does not add it again
    assert invoke("init", "hello", "--dir", str(tmp_path), "--force")[0] == 0
    assert (tmp_path / ".gitignore").read_text().count(".agentform") == 1


@pytest.mark.parametrize(("template", "agent"), [("hello", "greeter"), ("support-desk", "triage")])
def test_init_says_how_to_run_and_ask_the_project(
    tmp_path: Path, template: str, agent: str
) -> None:
    target = tmp_path / "proj"
    code, out = invoke("init", template, "--dir", str(target))
    assert code == 0, out
    steps = (
        f"cd {target}",
        "agentform validate",
        "agentform apply --auto-approve",
        f'agentform send {agent} "Hello"',
        "agentform destroy --auto-approve",
    )
    lines = [line.strip() for line in out.splitlines()]
    at = lines.index(steps[0])
    assert tuple(lines[at : at + len(steps)]) == steps, out
