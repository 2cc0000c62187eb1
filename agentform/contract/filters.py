"""Content filters' values (``filters:`` in the spec): what a filter detects (built-in
detectors, custom patterns), where it looks, and what it does with a hit (redact, block, flag).
Re-exported by :mod:`agentform.contract.values` with every other resource kind. Pure: imports
pydantic only."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from agentform.contract.base import Frozen, Name

__all__ = ["Detector", "Filter", "FilterPattern", "FilterPlace", "RedactPattern"]


class RedactPattern(Frozen):
    """A custom redaction: text matching ``pattern`` is replaced before it is written."""

    name: Name = Field(description="Label, used in the default replacement [REDACTED:name].")
    pattern: str = Field(description="Python regular expression.", max_length=500)
    replacement: str | None = None


Detector = Literal["email", "phone", "credit_card", "iban", "ip_address", "secret"]
FilterPlace = Literal["input", "answer", "tool_args", "tool_results"]


def _everywhere() -> list[FilterPlace]:
    return ["input", "answer", "tool_args", "tool_results"]


class FilterPattern(Frozen):
    """A custom detector of a content filter: text matching ``pattern`` is a hit."""

    name: Name = Field(
        description="Label: hits are counted and audited under it, and the default replacement"
        " is [REDACTED:name]."
    )
    pattern: str = Field(
        description="RE2 regular expression: linear time, no look-around or back-references.",
        max_length=500,
    )
    replacement: str | None = Field(None, description="What a redacted match becomes.")


class Filter(Frozen):
    """A content filter: what to look for in an agent's text, where, and what a hit does."""

    description: str = ""
    detect: list[Detector] = Field(
        default_factory=list,
        description="Built-in detectors: email, phone, credit_card (Luhn-checked), iban"
        " (checksum-checked), ip_address, secret (API keys, tokens, JWTs, private keys,"
        " password=...).",
    )
    patterns: list[FilterPattern] = Field(
        default_factory=list, description="Custom detectors, {name, pattern, replacement?}."
    )
    action: Literal["block", "redact", "flag"] = Field(
        description="block: refuse the text (a blocked input or answer fails the task, a blocked"
        " tool call is not made, a blocked result is not shown to the model); redact: replace"
        " each hit; flag: let it pass. Every hit is audited (filter.hit), never the text."
    )
    apply_to: list[FilterPlace] = Field(
        default_factory=_everywhere,
        min_length=1,
        description="Where: the task's input, its final answer, tool call arguments, tool"
        " results. Default: all four.",
    )
