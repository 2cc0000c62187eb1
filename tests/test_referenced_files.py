"""Which files a model or tool points at, and their fingerprints in the desired values."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from agentform.provider import ResourceValue
from agentform.referenced_files import FIELD, changed_since, paths_of, with_file_fingerprints


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("scripts/m.yaml", "servers/kb.py", "run.sh", "kb_server.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"# {name}\n")
    (tmp_path / "servers" / "data").mkdir()
    outside = tmp_path.parent / f"{tmp_path.name}-outside.py"
    outside.write_text("# not the project's\n")
    (tmp_path / "servers" / "escape.py").symlink_to(outside)
    return tmp_path


def tool(*command: str) -> dict[str, Any]:
    return {"mcp": {"command": list(command)}, "side_effects": "none"}


@pytest.mark.parametrize(
    ("address", "values", "paths"),
    [
        ("model.m", {"provider": "scripted", "script": "scripts/m.yaml"}, ["scripts/m.yaml"]),
        ("model.m", {"provider": "scripted", "script": "scripts/gone.yaml"}, ["scripts/gone.yaml"]),
        ("model.m", {"provider": "scripted", "script": "../m.yaml"}, []),
        ("model.m", {"provider": "openai", "model": "gpt-4o"}, []),
        ("tool.kb", tool("python", "servers/kb.py"), ["servers/kb.py"]),
        ("tool.kb", tool("./run.sh", "--port", "0"), ["./run.sh"]),
        ("tool.kb", tool("python", "-u", "servers/kb.py", "servers/kb.py"), ["servers/kb.py"]),
        ("tool.kb", tool("python", "-m", "kb_server"), []),  # a module, not a path
        ("tool.kb", tool("python", "servers/nope.py"), []),  # not a file: just an argument
        ("tool.kb", tool("python", "servers/data"), []),  # a directory
        ("tool.kb", tool("python", "servers/escape.py"), []),  # a link out of the project
        ("tool.kb", tool("python", "/etc/hostname"), []),
        ("tool.kb", {"mcp": {"url": "http://127.0.0.1:9/mcp"}, "side_effects": "none"}, []),
        ("agent.a", {"model": "m", "instructions": "scripts/m.yaml"}, []),
    ],
    ids=[
        "script",
        "missing-script",
        "script-outside",
        "no-script",
        "server-argument",
        "relative-program",
        "named-twice",
        "module",
        "no-such-file",
        "directory",
        "symlink-out",
        "absolute",
        "url",
        "agent",
    ],
)
def test_paths_of(project: Path, address: str, values: dict[str, Any], paths: list[str]) -> None:
    assert paths_of(address, values, project) == paths


def test_fingerprints_follow_the_content(project: Path) -> None:
    desired = {
        "model.m": ResourceValue.of(
            "model.m", {"provider": "scripted", "script": "scripts/m.yaml"}
        ),
        "tool.kb": ResourceValue.of("tool.kb", tool("python", "servers/kb.py")),
        "tool.web": ResourceValue.of("tool.web", tool("python", "-m", "web")),
    }
    first = with_file_fingerprints(desired, project)
    content = (project / "scripts" / "m.yaml").read_bytes()
    assert first["model.m"].values[FIELD] == {
        "scripts/m.yaml": f"sha256:{hashlib.sha256(content).hexdigest()}"
    }
    assert set(first["tool.kb"].values[FIELD]) == {"servers/kb.py"}
    assert first["tool.web"] == desired["tool.web"]  # nothing to fingerprint: values unchanged
    assert with_file_fingerprints(desired, project) == first  # the same content, the same values

    (project / "scripts" / "m.yaml").write_text("rules: [{reply: new}]\n")
    second = with_file_fingerprints(desired, project)
    assert second["model.m"] != first["model.m"]
    assert second["tool.kb"] == first["tool.kb"]
    assert changed_since([v.values for v in first.values()], project) == ["scripts/m.yaml"]
    assert changed_since([v.values for v in second.values()], project) == []

    (project / "scripts" / "m.yaml").unlink()  # validate's error (AF212); here: missing
    assert with_file_fingerprints(desired, project)["model.m"].values[FIELD] == {
        "scripts/m.yaml": None
    }
