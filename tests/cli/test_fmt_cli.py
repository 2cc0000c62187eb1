"""``agentform fmt`` as CI runs it: rewrite, --check, --diff, and bad input."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from agentform.cli import cli
from tests.conftest import WriteSpec

UNFORMATTED = """\
# the support desk
project: demo   # our project
version: 1
models:
    fast: {script: scripts/rules.yaml, provider: scripted}
agents:
    triage:
        tools: []
        model: fast    # cheap and offline
access:
    roles:
        users: ["invoke:triage"]
"""


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--no-color", *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_check_reports_and_changes_nothing(write_spec: WriteSpec, tmp_path: Path) -> None:
    path = write_spec(UNFORMATTED)
    code, out = run("fmt", "--check")
    assert code == 1
    assert "would reformat agentform.yaml" in out
    assert path.read_text() == UNFORMATTED


def test_fmt_rewrites_keeping_comments_then_check_passes(write_spec: WriteSpec) -> None:
    path = write_spec(UNFORMATTED)
    code, out = run("fmt", "--diff")
    assert code == 0
    assert "+version: 1\n project: demo   # our project\n" in out
    text = path.read_text()
    assert text.startswith("# the support desk\nversion: 1\nproject: demo   # our project\n")
    # an end-of-line comment keeps its column, so aligned comments stay aligned
    assert "    model: fast        # cheap and offline\n    tools: []\n" in text
    assert run("fmt", "--check") == (0, "0 files would reformat, 1 already formatted\n")


def test_unparseable_file_is_a_located_error(write_spec: WriteSpec) -> None:
    path = write_spec("version: 1\nproject: [demo\n")
    code, out = run("fmt", str(path))
    assert code == 1
    assert "error[AF001]: cannot format" in out
    assert "agentform.yaml:" in out
    assert "Traceback" not in out


def test_directory_without_specs_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, out = run("fmt", str(tmp_path / "empty"))
    assert code == 2
    assert "no *.yaml spec files" in out
