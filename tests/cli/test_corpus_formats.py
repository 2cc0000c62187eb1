"""Every bad spec of the corpus through the CLI in every format: never a traceback, exit 1,
SARIF valid against the OASIS schema, JSON well-formed, one GitHub annotation per diagnostic."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from agentform.cli import cli

ROOT = Path(__file__).resolve().parents[2]
CORPUS = sorted(p for p in (ROOT / "tests" / "spec" / "bad").iterdir() if p.is_dir())
SARIF = jsonschema.Draft4Validator(
    json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
)


@pytest.mark.parametrize("case", CORPUS, ids=[p.name for p in CORPUS])
def test_bad_spec_in_every_format(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(case)
    options = json.loads((case / "case.json").read_text()) if (case / "case.json").exists() else {}
    args = ["validate", "agentform.yaml"]
    if options.get("env"):
        args += ["--env", options["env"]]
    for name, value in options.get("variables", {}).items():
        args += ["--var", f"{name}={value}"]
    runner = CliRunner()
    outputs = {}
    for fmt in ("human", "json", "sarif", "github"):
        result = runner.invoke(cli, ["--no-color", *args, "--format", fmt])
        assert result.exception is None or isinstance(result.exception, SystemExit), fmt
        assert "Traceback" not in result.output
        outputs[fmt] = (result.exit_code, result.output)
    report = json.loads(outputs["json"][1])
    expected_exit = 0 if report["valid"] else 1
    assert {code for code, _ in outputs.values()} == {expected_exit}
    SARIF.validate(json.loads(outputs["sarif"][1]))
    annotations = [line for line in outputs["github"][1].splitlines() if line]
    assert len(annotations) == len(report["diagnostics"])
