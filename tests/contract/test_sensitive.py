"""The sensitive-variable rules both sides share: where a reference may be, reveal and mask."""

from __future__ import annotations

from typing import Any

import pytest

from agentform.contract.sensitive import env_name, mask, referenced, reveal, used_in

VALUES = {"pin": "s3cr3t-VALUE-42", "pin_long": "s3cr3t-VALUE-42-and-more", "empty": ""}


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        (("agents", "triage", "instructions"), True),
        (("tools", "kb", "mcp", "env", "TOKEN"), True),
        (("tools", "kb", "mcp", "headers", "Authorization"), True),
        (("tools", "crm", "a2a", "headers", "X-Key"), True),
        (("agents", "triage", "description"), False),
        (("agents", "triage", "replicas"), False),
        (("tools", "kb", "mcp", "command", 1), False),
        (("tools", "kb", "mcp", "url"), False),
        (("tools", "crm", "a2a", "url"), False),
        (("tools", "kb", "mcp", "env"), False),
        (("schedules", "daily", "input"), False),
        (("models", "fast", "api_key"), False),
    ],
    ids=lambda v: ".".join(map(str, v)) if isinstance(v, tuple) else str(v),
)
def test_where_the_runtime_resolves_a_reference(path: tuple[str | int, ...], allowed: bool) -> None:
    assert used_in(path) is allowed


def test_referenced_names_are_found_in_nested_values() -> None:
    value = {"a": ["x ${var.pin} y", {"b": "${var.other}"}], "c": "${secret.S} $${var.no"}
    assert referenced(value) == {"pin", "other"}


def test_reveal_puts_back_only_the_names_it_is_given() -> None:
    text = "PIN ${var.pin}, other ${var.other}, ${secret.S}"
    assert reveal(text, {"pin": "1234"}) == "PIN 1234, other ${var.other}, ${secret.S}"
    assert reveal(text, {}) == text


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("the PIN is s3cr3t-VALUE-42.", "the PIN is ${var.pin}."),
        ("s3cr3t-VALUE-42-and-more", "${var.pin_long}"),
        (
            {"a": ["s3cr3t-VALUE-42", 42, None], "b": {"c": "xs3cr3t-VALUE-42x"}},
            {"a": ["${var.pin}", 42, None], "b": {"c": "x${var.pin}x"}},
        ),
        ("nothing here", "nothing here"),
    ],
    ids=["text", "longest-first", "nested", "untouched"],
)
def test_mask_replaces_every_value_with_its_reference(value: Any, masked: Any) -> None:
    assert mask(value, VALUES) == masked


def test_mask_without_values_returns_the_value_itself() -> None:
    value = {"a": "s3cr3t-VALUE-42"}
    assert mask(value, {}) is value
    assert mask(value, {"empty": ""}) is value


def test_a_worker_finds_a_value_where_a_user_sets_one() -> None:
    assert env_name("pin") == "AGENTFORM_VAR_pin"
