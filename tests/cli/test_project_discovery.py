"""How every command finds its project: from the current directory up, ``-C``, the environment,
the older per-command forms, conflicts between them, and no project at all."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner, Result

from agentform.cli import cli

ROOT = Path(__file__).resolve().parents[2]
ENV_NAMES = ("AGENTFORM_PROJECT", "AGENTFORM_SPEC", "AGENTFORM_TOKEN")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["--no-color", *args], env=env, catch_exceptions=False)


def copy_example(name: str, target: Path) -> Path:
    shutil.copytree(
        ROOT / "examples" / name, target, ignore=shutil.ignore_patterns(".agentform", "__pycache__")
    )
    return target


@pytest.fixture
def desk(tmp_path: Path) -> Path:
    return copy_example("support-desk", tmp_path / "desk")


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    return copy_example("hello", tmp_path / "hello")


def engine_of(project: Path) -> str:
    return f"no engine runs for this project ({project.resolve() / '.agentform' / 'engine'})"


# -- found from the current directory ---------------------------------------------------------


@pytest.mark.parametrize(
    "where", ["", "agents", "scripts", "servers"], ids=["root", "agents", "scripts", "servers"]
)
def test_validate_finds_the_project_from_any_directory_inside_it(
    desk: Path, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(desk / where)
    result = run("validate")
    assert result.exit_code == 0, result.output
    # the whole project was loaded, not the sub-directory's two agent files
    assert "(4 files, base + 2 environments) is valid" in result.output
    assert "2 agents, 3 models, 2 tools, 3 memory stores, 3 policies" in result.output


@pytest.mark.parametrize(
    "args",
    [("status",), ("tasks", "list"), ("approvals", "list"), ("tokens", "list"), ("logs", "triage")],
    ids=["status", "tasks", "approvals", "tokens", "logs"],
)
def test_engine_verbs_look_at_the_engine_of_the_found_project(
    desk: Path, args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(desk / "agents")
    result = run(*args)
    assert result.exit_code == 1
    assert engine_of(desk) in result.output


def test_state_and_plan_use_the_found_project(hello: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(hello / "scripts")
    listed = run("state", "list")
    assert listed.exit_code == 0, listed.output
    assert not (hello / "scripts" / ".agentform").exists()
    planned = run("plan", "--no-refresh")
    assert planned.exit_code == 0, planned.output
    assert "agent.greeter" in planned.output


def test_fmt_formats_the_found_projects_files(desk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(desk / "agents")
    result = run("fmt", "--check")
    assert result.exit_code == 0, result.output
    assert "0 files would reformat, 4 already formatted" in result.output


def test_the_nearest_project_wins(hello: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inner = copy_example("hello", hello / "scripts" / "inner")
    (inner / "agentform.yaml").write_text(
        (inner / "agentform.yaml").read_text().replace("project: hello", "project: inner")
    )
    monkeypatch.chdir(inner)
    assert engine_of(inner) in run("status").output


@pytest.mark.parametrize(
    ("files", "dirs", "found"),
    [
        ({"spec.yaml": None}, [".agentform"], "."),
        ({"agentform.yml": None}, [], "."),
        ({"spec.yaml": None}, [], "sub"),
    ],
    ids=["state-dir-beside-spec", "agentform.yml", "no-marker-spec-in-cwd"],
)
def test_what_marks_a_project_root(
    tmp_path: Path,
    hello: Path,
    files: dict[str, None],
    dirs: list[str],
    found: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "proj"
    (root / "sub").mkdir(parents=True)
    for name in files:
        shutil.copy(hello / "agentform.yaml", root / name)
    for name in dirs:
        (root / name).mkdir()
    # without a marker, a directory holding spec files is a project only where you stand in it
    start = root / "sub"
    if found == "sub":
        shutil.copy(hello / "agentform.yaml", start / "spec.yaml")
        shutil.copytree(hello / "scripts", start / "scripts")
    monkeypatch.chdir(start)
    result = run("status")
    assert engine_of(root if found == "." else start) in result.output


# -- named: -C, AGENTFORM_PROJECT -------------------------------------------------------------


@pytest.mark.parametrize(
    "named", ["desk", "desk/agents", "desk/agentform.yaml"], ids=["dir", "dir-inside", "file"]
)
def test_dash_c_names_the_project_from_outside(
    tmp_path: Path, desk: Path, named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert engine_of(desk) in run("-C", named, "status").output
    result = run("-C", named, "validate")
    assert result.exit_code == 0, result.output


def test_agentform_project_names_the_project(
    tmp_path: Path, desk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"AGENTFORM_PROJECT": str(desk / "agents")}
    assert engine_of(desk) in run("status", env=env).output
    assert run("graph", "--format", "text", env=env).exit_code == 0


def test_dash_c_wins_over_the_environment(
    tmp_path: Path, desk: Path, hello: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("AGENTFORM_PROJECT", "AGENTFORM_SPEC"):
        result = run("-C", str(hello), "status", env={name: str(desk)})
        assert engine_of(hello) in result.output, name


def test_dash_c_names_where_init_creates_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("-C", "new", "init", "hello")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "new" / "agentform.yaml").is_file()
    assert "cd new" in result.output
    assert run("-C", "new", "init", "hello", "--dir", "other").exit_code == 2


# -- the older forms, alone and with -C -------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("validate", "{p}"), {}),
        (("validate", "{p}/agentform.yaml"), {}),
        (("graph", "{p}", "--format", "text"), {}),
        (("fmt", "--check", "{p}"), {}),
        (("plan", "{p}", "--no-refresh"), {}),
        (("state", "list", "--path", "{p}"), {}),
        (("status", "--spec", "{p}"), {}),
        (("status", "-s", "{p}/agentform.yaml"), {}),
        (("status",), {"AGENTFORM_SPEC": "{p}"}),
        (("status", "--spec", "{p}"), {"AGENTFORM_PROJECT": "{other}"}),
    ],
    ids=[
        "validate-dir",
        "validate-file",
        "graph",
        "fmt",
        "plan",
        "state-path",
        "spec",
        "s-file",
        "AGENTFORM_SPEC",
        "spec-beats-AGENTFORM_PROJECT",
    ],
)
def test_the_older_forms_keep_working(
    tmp_path: Path,
    hello: Path,
    args: tuple[str, ...],
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = copy_example("research-crew", tmp_path / "other")
    monkeypatch.chdir(tmp_path)

    def fill(text: str) -> str:
        return text.format(p=hello, other=other)

    result = run(*map(fill, args), env={k: fill(v) for k, v in env.items()})
    if args[0] == "status":
        assert engine_of(hello) in result.output
    else:
        assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (("-C", "{a}", "validate", "{b}"), "PATH names"),
        (("-C", "{a}", "plan", "{b}", "--no-refresh"), "PATH names"),
        (("-C", "{a}", "status", "--spec", "{b}"), "--spec/-s names"),
        (("-C", "{a}", "tasks", "list", "-s", "{b}/agentform.yaml"), "--spec/-s names"),
        (("-C", "{a}", "state", "list", "--path", "{b}"), "--path names"),
        (("-C", "{a}", "fmt", "{a}", "{b}/agentform.yaml"), "PATHS names"),
    ],
    ids=["validate", "plan", "status", "tasks", "state", "fmt"],
)
def test_dash_c_and_a_command_form_naming_different_projects_is_a_usage_error(
    tmp_path: Path, hello: Path, desk: Path, args: tuple[str, ...], hint: str
) -> None:
    result = run(*(arg.format(a=hello, b=desk) for arg in args))
    assert result.exit_code == 2, result.output
    assert f"Error: -C/--project names the project '{hello}' but {hint}" in result.output
    assert "give only one of them" in result.output


def test_both_environment_variables_naming_different_projects_is_a_usage_error(
    hello: Path, desk: Path
) -> None:
    result = run("status", env={"AGENTFORM_PROJECT": str(hello), "AGENTFORM_SPEC": str(desk)})
    assert result.exit_code == 2
    assert "AGENTFORM_PROJECT names the project" in result.output
    assert "but AGENTFORM_SPEC names" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ("-C", "{p}", "validate", "{p}/agentform.yaml"),
        ("-C", "{p}/scripts", "status", "--spec", "{p}"),
        ("-C", "{p}", "fmt", "--check", "{p}/agentform.yaml"),
    ],
    ids=["validate-file", "status-inside", "fmt"],
)
def test_dash_c_and_a_command_form_naming_the_same_project_agree(
    hello: Path, args: tuple[str, ...]
) -> None:
    result = run(*(arg.format(p=hello) for arg in args))
    assert result.exit_code != 2, result.output
    if "status" in args:
        assert engine_of(hello) in result.output


# -- no project -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [("validate",), ("plan",), ("apply",), ("status",), ("memory", "list"), ("fmt",)],
    ids=["validate", "plan", "apply", "status", "memory", "fmt"],
)
def test_no_project_found_is_one_line_saying_where_and_what_to_do(
    tmp_path: Path, args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / "empty")
    result = run(*args)
    assert result.exit_code == 1
    assert result.output == (
        f"error: no agentform project in {(tmp_path / 'empty').resolve()} or any directory above"
        " it (a project is a directory with agentform.yaml); cd into a project, name one with"
        " 'agentform -C PATH ...', or create one with 'agentform init'\n"
    )


def test_dash_c_naming_no_project_says_so(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run("-C", str(tmp_path / "empty"), "status")
    assert result.exit_code == 1
    assert result.output.startswith(
        f"error: no agentform project in {(tmp_path / 'empty').resolve()} (from -C/--project)"
    )
    missing = run("-C", str(tmp_path / "missing"), "status")
    assert missing.exit_code == 2
    assert "does not exist" in missing.output


# -- --token ----------------------------------------------------------------------------------


class RecordingClient:
    """Stands in for EngineClient: records how it was made; every request finds no engine."""

    made: ClassVar[list[tuple[Path, str | None]]] = []

    def __init__(self, workdir: Path, *, token: str | None = None) -> None:
        self.made.append((workdir, token))

    def request(self, *args: Any, **kwargs: Any) -> Any:
        from agentform.runtime.host.client import EngineUnavailable

        raise EngineUnavailable("no engine in this test")


@pytest.mark.parametrize(
    ("given", "token"),
    [
        (lambda: run("--token", "af_secret", "status"), "af_secret"),
        (lambda: run("status", env={"AGENTFORM_TOKEN": "af_env"}), "af_env"),
        (lambda: run("status"), None),
    ],
    ids=["option", "environment", "operator"],
)
def test_token_is_passed_to_the_engine_client(
    hello: Path, given: Callable[[], Result], token: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agentform.runtime.host.client as client

    RecordingClient.made = []
    monkeypatch.setattr(client, "EngineClient", RecordingClient)
    monkeypatch.chdir(hello)
    result = given()
    assert result.exit_code == 1
    assert RecordingClient.made == [(hello.resolve() / ".agentform" / "engine", token)]
