"""Docs are part of the feature: every diagnostic code is documented, every link resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agentform.diagnostics.codes import CODES

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_code_is_documented(code: str) -> None:
    text = (ROOT / "docs" / "diagnostics.md").read_text()
    assert f"`{code}` | `{CODES[code].name}` | {CODES[code].description}" in text


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_relative_links_resolve(page: Path) -> None:
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
        if "://" in target:
            continue
        assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
