"""Loading: files and directories, include chains, overlays, variables, partial validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentform.spec import load_spec
from tests.conftest import BASE_SPEC, WriteSpec


def codes(result: object, *, errors_only: bool = False) -> list[str]:
    diags = result.diagnostics  # type: ignore[attr-defined]
    return [d.code for d in diags if d.is_error or not errors_only]


def test_base_spec_is_valid(write_spec: WriteSpec) -> None:
    result = load_spec(write_spec(), environ={})
    assert result.diagnostics == []
    assert result.ok
    assert result.spec is not None and list(result.spec.agents) == ["triage"]


def test_directory_of_files_merges_named_sections(write_spec: WriteSpec, tmp_path: Path) -> None:
    write_spec(
        **{
            "more.yaml": """
        agents:
          helper: {model: fast}
        access:
          roles:
            helpers: ["invoke:helper"]
    """
        }
    )
    result = load_spec(tmp_path, environ={})
    assert codes(result) == []
    assert result.spec is not None
    assert set(result.spec.agents) == {"triage", "helper"}
    assert set(result.spec.access.roles) == {"users", "helpers"}
    assert result.files == sorted(result.files)


HIDDEN = {
    # other tools' settings beside the spec: none of them is a spec file
    ".pre-commit-config.yaml": "repos: [{repo: local, hooks: []}]\n",
    ".gitlab-ci.yml": "stages: [test]\n",
    "agents__.draft.yaml": "agents: {draft: {model: nope}}\n",
}


def test_hidden_files_beside_the_spec_are_not_read(write_spec: WriteSpec, tmp_path: Path) -> None:
    helper = {"agents__helper.yaml": "agents: {helper: {model: fast}}\n"}
    write_spec(BASE_SPEC + "include: [agents]\n", **HIDDEN, **helper)
    result = load_spec(tmp_path, environ={})
    assert codes(result, errors_only=True) == [], result.diagnostics
    assert result.files == ["agentform.yaml", "agents/helper.yaml"]
    assert result.spec is not None and set(result.spec.agents) == {"triage", "helper"}


def test_a_hidden_file_named_outright_is_read(write_spec: WriteSpec, tmp_path: Path) -> None:
    write_spec(**HIDDEN)
    result = load_spec(tmp_path / ".pre-commit-config.yaml", environ={})
    assert "AF101" in codes(result)  # 'repos' is no spec section: it was read as one


def test_includes_with_globs_and_locations(write_spec: WriteSpec) -> None:
    main = BASE_SPEC + "include: [agents/*.yaml]\n"
    path = write_spec(main, **{"agents__b.yaml": "agents:\n  b: {model: fsat}\n"})
    result = load_spec(path, environ={})
    assert codes(result) == ["AF204", "AF201"]  # sorted by file: agentform.yaml first
    error = result.diagnostics[1]
    assert error.location is not None
    assert error.location.file.endswith("agents/b.yaml")
    assert (error.location.line, error.location.column) == (2, 14)
    assert error.hint == "did you mean 'fast'?"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"agentform.yaml": BASE_SPEC + "include: [missing.yaml]\n"}, ["AF004"]),
        (
            {
                "agentform.yaml": BASE_SPEC + "include: [a.yaml]\n",
                "a.yaml": "include: [b.yaml]\n",
                "b.yaml": "include: [a.yaml]\n",
            },
            ["AF005"],
        ),
        ({"agentform.yaml": BASE_SPEC + "include: [nothing/*.yaml]\n"}, ["AF004"]),
        (
            {
                "agentform.yaml": BASE_SPEC + "include: [a.yaml]\n",
                "a.yaml": "agents:\n  triage: {model: fast}\n",
            },
            ["AF012"],
        ),
        (
            {"agentform.yaml": BASE_SPEC + "include: [a.yaml]\n", "a.yaml": "project: other\n"},
            ["AF012"],
        ),
        ({"agentform.yaml": BASE_SPEC + "include: [a.yaml]\n", "a.yaml": "project: demo\n"}, []),
        (
            {
                "agentform.yaml": BASE_SPEC + "include: [a.yaml, a.yaml]\n",
                "a.yaml": "tools:\n  t: {mcp: {url: 'http://x/mcp'}, side_effects: none}\n",
            },
            ["AF215"],
        ),
    ],
    ids=[
        "missing",
        "cycle",
        "glob-matches-nothing",
        "same-agent-twice",
        "conflicting-singular",
        "agreeing-singular",
        "included-twice-is-once",
    ],
)
def test_include_problems(
    write_spec: WriteSpec, files: dict[str, str], expected: list[str]
) -> None:
    main = files.pop("agentform.yaml")
    result = load_spec(write_spec(main, **files), environ={})
    assert codes(result) == expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [("outside", ["AF004"]), ("inside", []), ("missing", ["AF212"])],
    ids=["link-out-of-the-project", "link-inside-it", "missing-file"],
)
def test_a_script_is_a_file_of_the_project(
    write_spec: WriteSpec, tmp_path: Path, target: str, expected: list[str]
) -> None:
    """Like an include: a link out of the project is refused, not followed (AF004)."""
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "secret.yaml").write_text("rules: [{reply: a file of someone else}]\n")
    spec = write_spec(BASE_SPEC, name="project/agentform.yaml")
    (project / "scripts").mkdir()
    (project / "scripts" / "real.yaml").write_text("rules: [{reply: hi}]\n")
    link = project / "scripts" / "rules.yaml"
    if target == "outside":
        link.symlink_to(tmp_path / "secret.yaml")
    elif target == "inside":
        link.symlink_to(project / "scripts" / "real.yaml")
    result = load_spec(spec, environ={})
    assert codes(result) == expected
    if expected == ["AF004"]:
        [problem] = result.diagnostics
        assert problem.summary == (
            "script 'scripts/rules.yaml' of model 'fast' leads outside the project directory"
            " (through a symbolic link)"
        )


def test_include_cycle_names_the_loop(write_spec: WriteSpec) -> None:
    path = write_spec(
        BASE_SPEC + "include: [a.yaml]\n",
        **{"a.yaml": "include: [b.yaml]\n", "b.yaml": "include: [a.yaml]\n"},
    )
    (diag,) = load_spec(path, environ={}).diagnostics
    assert diag.summary == "include cycle: a.yaml -> b.yaml -> a.yaml"


ENVS = (
    BASE_SPEC
    + """\
variables:
  replicas: {type: integer, default: 1}
  tier: {default: standard}
environments:
  prod:
    variables: {replicas: {default: 4}}
    agents:
      triage: {memory: null, instructions: "Premium ${var.tier}"}
    memory: {notes: null}
  broken:
    agents: {triage: {replicas: lots}}
"""
)


def test_overlay_merges_maps_replaces_values_and_null_removes(write_spec: WriteSpec) -> None:
    text = ENVS.replace("    tools: [kb]\n", "    tools: [kb]\n    replicas: ${var.replicas}\n")
    result = load_spec(write_spec(text), env="prod", environ={})
    assert codes(result) == []
    assert result.spec is not None
    triage = result.spec.agents["triage"]
    assert triage.replicas == 4
    assert triage.memory == []
    assert triage.instructions == "Premium standard"
    assert triage.tools == ["kb"]
    assert "notes" not in result.spec.memory


def test_overlay_errors_point_at_the_overlay(write_spec: WriteSpec) -> None:
    result = load_spec(write_spec(ENVS), env="broken", environ={})
    assert codes(result) == ["AF102"]
    loc = result.diagnostics[0].location
    assert (
        loc is not None
        and loc.line == ENVS.splitlines().index("    agents: {triage: {replicas: lots}}") + 1
    )


def test_unknown_environment_suggests(write_spec: WriteSpec) -> None:
    result = load_spec(write_spec(ENVS), env="prd", environ={})
    assert codes(result) == ["AF010"]
    assert result.diagnostics[0].hint == "did you mean 'prod'?"


@pytest.mark.parametrize(
    ("given", "environ", "replicas", "expected"),
    [
        ({}, {}, 1, []),
        ({"replicas": "5"}, {}, 5, []),
        ({}, {"AGENTFORM_VAR_replicas": "7"}, 7, []),
        ({"replicas": "5"}, {"AGENTFORM_VAR_replicas": "7"}, 5, []),
        ({"replicas": "many"}, {}, None, ["AF104"]),
        ({"replicaz": "1"}, {}, None, ["AF008"]),
    ],
    ids=["default", "cli", "environment", "cli-wins", "wrong-type", "undeclared"],
)
def test_variable_values(
    write_spec: WriteSpec,
    given: dict[str, str],
    environ: dict[str, str],
    replicas: int | None,
    expected: list[str],
) -> None:
    text = ENVS.replace("    tools: [kb]\n", "    tools: [kb]\n    replicas: ${var.replicas}\n")
    result = load_spec(write_spec(text), variables=given, environ=environ)
    assert codes(result, errors_only=True) == expected
    if replicas is not None:
        assert result.spec is not None
        assert result.spec.agents["triage"].replicas == replicas


def test_variable_without_value(write_spec: WriteSpec) -> None:
    result = load_spec(write_spec(BASE_SPEC + "variables: {region: {}}\n"), environ={})
    assert codes(result) == ["AF008"]
    assert result.diagnostics[0].hint is not None and "--var region=" in result.diagnostics[0].hint


def test_one_bad_agent_does_not_hide_problems_elsewhere(write_spec: WriteSpec) -> None:
    text = (
        BASE_SPEC
        + """\
  broken: {model: fast, replicas: -1}
  other: {model: nope, delegates: [broken]}
"""
    )
    text = text.replace('access:\n  roles:\n    users: ["invoke:triage"]\n', "")
    text += 'access: {roles: {users: ["invoke:*"]}}\n'
    result = load_spec(write_spec(text), environ={})
    assert codes(result) == ["AF104", "AF201"]
    assert result.spec is None


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "AF011"),
        (b"- a\n- b\n", "AF011"),
        (b"version: 1\x00\n", "AF006"),
        (b"project: caf\xe9\n", "AF006"),
    ],
    ids=["empty", "list", "nul", "latin-1"],
)
def test_unreadable_files(tmp_path: Path, content: bytes, code: str) -> None:
    path = tmp_path / "agentform.yaml"
    path.write_bytes(content)
    result = load_spec(path, environ={})
    assert codes(result) == [code]
    assert result.diagnostics[0].location is not None


def test_utf8_bom_is_accepted(write_spec: WriteSpec, tmp_path: Path) -> None:
    path = write_spec()
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load_spec(path, environ={}).ok


def test_empty_directory(tmp_path: Path) -> None:
    result = load_spec(tmp_path, environ={})
    assert codes(result) == ["AF004"]
