"""The CI integrations we ship (GitHub workflow, pre-commit hooks) run real, working commands."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from agentform.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def workflow_commands() -> list[list[str]]:
    workflow = yaml.safe_load((ROOT / "docs" / "ci" / "agentform.yml").read_text())
    runs = [
        step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step
    ]
    return [shlex.split(r)[1:] for r in runs if r.startswith("agentform ")]


@pytest.mark.parametrize("args", workflow_commands(), ids=" ".join)
def test_workflow_commands_pass_on_a_valid_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    shutil.copytree(ROOT / "examples" / "support-desk", tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output


def test_workflow_fails_on_a_broken_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(ROOT / "examples" / "hello", tmp_path, dirs_exist_ok=True)
    spec = tmp_path / "agentform.yaml"
    spec.write_text(spec.read_text().replace("version: 1", "version: 1\nbogus: true"))
    monkeypatch.chdir(tmp_path)
    validate = next(a for a in workflow_commands() if "github" in a)
    result = CliRunner().invoke(cli, validate, catch_exceptions=False)
    assert result.exit_code == 1
    assert result.output.startswith("::error file=agentform.yaml")


def test_pre_commit_hooks_name_real_commands() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"] for h in hooks} == {"agentform-validate", "agentform-fmt"}
    for hook in hooks:
        program, *args = shlex.split(hook["entry"])
        assert program == "agentform"
        assert args[0] in cli.commands


@pytest.mark.parametrize("hook", ["agentform-validate", "agentform-fmt"])
def test_pre_commit_hooks_pass_beside_a_pre_commit_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hook: str
) -> None:
    # pre-commit runs a hook in the repository root, where its own .pre-commit-config.yaml is:
    # a hidden file beside the spec is not a spec file (it failed every commit with AF101)
    shutil.copytree(ROOT / "examples" / "support-desk", tmp_path, dirs_exist_ok=True)
    config = tmp_path / ".pre-commit-config.yaml"
    config.write_text(yaml.safe_dump({"repos": [{"repo": "local", "hooks": []}]}))
    before = config.read_text()
    monkeypatch.chdir(tmp_path)
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    _, *args = shlex.split(hooks[hook]["entry"])
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert config.read_text() == before  # fmt leaves other tools' files alone
