"""Names and suggestions."""

from __future__ import annotations

import pytest

from agentform.names import did_you_mean, is_valid_name


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("triage", True),
        ("refund-approval", True),
        ("a1_b", True),
        ("Triage", False),
        ("1st", False),
        ("with space", False),
        ("trailing-", False),
        ("x" * 63, True),
        ("x" * 64, False),
        ("", False),
        ("ünïcode", False),
    ],
)
def test_is_valid_name(name: str, valid: bool) -> None:
    assert is_valid_name(name) is valid


@pytest.mark.parametrize(
    ("word", "candidates", "hint"),
    [
        ("kbb", ["kb", "refunds"], "did you mean 'kb'?"),
        ("KB", ["kb"], "did you mean 'kb'?"),
        ("zzz", ["kb", "refunds"], "defined tools: 'kb', 'refunds'"),
        ("zzz", [], "no tool is defined"),
        ("zzz", [f"t{i}" for i in range(20)], None),
    ],
    ids=["typo", "case", "few-choices", "none", "many-choices"],
)
def test_did_you_mean(word: str, candidates: list[str], hint: str | None) -> None:
    assert did_you_mean(word, candidates, "tool") == hint
