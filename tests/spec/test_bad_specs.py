"""Bad specs never crash the loader, and every problem comes back located.

Each directory under ``tests/spec/bad/`` is one case, named after the problem it shows:

* ``agentform.yaml`` and any files it includes;
* ``case.json`` (optional): ``{"env": "prod", "variables": {"name": "value"}}`` passed to
  :func:`load_spec` as ``env=`` and ``variables=``;
* ``expected.json``: the ``to_dict()`` of every diagnostic ``load_spec`` returns, with file
  paths relative to the case directory.

Regenerate the goldens with ``AGENTFORM_UPDATE_GOLDEN=1 pytest tests/spec/test_bad_specs.py``
and review the diff by eye: a golden records what users will read, so a wrong line or an
unhelpful hint must be fixed in the code, not accepted here.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from agentform.diagnostics import Diagnostic
from agentform.diagnostics.codes import CODES
from agentform.spec import load_spec

BAD = Path(__file__).parent / "bad"
CASES = sorted(p for p in BAD.iterdir() if p.is_dir())
UPDATE = os.environ.get("AGENTFORM_UPDATE_GOLDEN") == "1"

# Diagnostics that genuinely have no place in a file: the problem is in the command line
# (``--var NAME=...`` for an undeclared variable), not in any spec text.
UNLOCATABLE = [
    ("AF008", re.compile(r"^--var \S+ is not a declared variable$")),
]

# YAML (and so every location) counts these as line breaks.
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")

# Loading any case, even the alias bomb, must be quick: a slow loader is a denial of service
# for `agentform validate` in CI on an untrusted pull request.
MAX_SECONDS = 5.0

# Reproducers of loader bugs that are not fixed yet. They are skipped, not run, because running
# them exhausts the time or memory of the test machine. Fixing one: delete its entry, run with
# AGENTFORM_UPDATE_GOLDEN=1 and review the new expected.json.
KNOWN_BUGS: dict[str, str] = {}


def _relative(text: str, case_dir: Path) -> str:
    return text.replace(str(case_dir) + os.sep, "").replace(str(case_dir), ".")


def _normalise(value: Any, case_dir: Path) -> Any:
    """Make every path in a diagnostic dict relative to the case directory."""
    if isinstance(value, str):
        return _relative(value, case_dir)
    if isinstance(value, dict):
        out = {k: _normalise(v, case_dir) for k, v in value.items()}
        if "file" in out and isinstance(out["file"], str) and os.path.isabs(out["file"]):
            out["file"] = os.path.relpath(out["file"], case_dir)
        return out
    if isinstance(value, list | tuple):
        return [_normalise(v, case_dir) for v in value]
    return value


def _load(case_dir: Path) -> tuple[list[Diagnostic], float]:
    options: dict[str, Any] = {}
    meta = case_dir / "case.json"
    if meta.exists():
        options = json.loads(meta.read_text(encoding="utf-8"))
    started = time.perf_counter()
    result = load_spec(
        case_dir / "agentform.yaml",
        env=options.get("env"),
        variables=options.get("variables"),
        environ={},
    )
    return result.diagnostics, time.perf_counter() - started


def _check_location(d: Diagnostic, case_dir: Path) -> None:
    if d.location is None:
        assert any(d.code == code and pattern.match(d.summary) for code, pattern in UNLOCATABLE), (
            f"diagnostic has no location: {d.to_dict()}"
        )
        return
    for loc in (d.location, *d.related):
        path = case_dir / loc.file
        assert path.is_file(), f"location names a file that is not in the case: {loc}"
        text = path.read_bytes().decode("utf-8", errors="replace")
        lines = _LINE_BREAK.split(text)
        assert 1 <= loc.line <= len(lines), f"line out of range: {loc} ({len(lines)} lines)"
        assert 1 <= loc.column <= len(lines[loc.line - 1]) + 1, f"column out of range: {loc}"


def test_corpus_is_large_enough() -> None:
    assert len(CASES) - len(KNOWN_BUGS) >= 30
    assert set(KNOWN_BUGS) <= {p.name for p in CASES}


@pytest.mark.parametrize("case_dir", CASES, ids=[p.name for p in CASES])
def test_bad_spec(case_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if case_dir.name in KNOWN_BUGS:
        pytest.skip(f"known loader bug: {KNOWN_BUGS[case_dir.name]}")
    # display names are relative to the working directory: run from the case directory so the
    # goldens do not depend on where pytest was started
    monkeypatch.chdir(case_dir)
    diagnostics, seconds = _load(case_dir)
    assert seconds < MAX_SECONDS, f"loading took {seconds:.1f}s"
    actual = _normalise([d.to_dict() for d in diagnostics], case_dir)
    assert actual, "a bad spec must produce at least one diagnostic"
    for d in diagnostics:
        assert d.code in CODES, f"unknown code {d.code}"
        _check_location(d, case_dir)
    golden = case_dir / "expected.json"
    if UPDATE:
        golden.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", "utf-8")
    assert golden.exists(), "no expected.json: run with AGENTFORM_UPDATE_GOLDEN=1 and review it"
    assert actual == json.loads(golden.read_text(encoding="utf-8"))
