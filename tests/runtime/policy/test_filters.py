"""Content filters: detectors, actions, where they apply, and what they never say.

The filter engine (:mod:`agentform.runtime.policy.filters`) screens text and JSON values with
the memory module's redaction rules (built-in detectors) and RE2 patterns (custom ones), block
first, then redact, then flag. A refusal names the filter and the detectors, never the text.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentform.contract import FilterValue
from agentform.runtime.conversation import ModelResponse, ToolCall
from agentform.runtime.policy.filters import ContentFilters, blocked_calls

CARD = "4111 1111 1111 1111"  # passes the Luhn check
NOT_A_CARD = "4111 1111 1111 1112"  # does not
EMAIL = "ada@example.com"
KEY = "sk-proj-4f9c2a7b1e8d3c6a5b0f9e8d7c6b5a4f"


def filters(*specs: tuple[str, dict[str, Any]]) -> ContentFilters:
    return ContentFilters([(name, FilterValue.model_validate(spec)) for name, spec in specs])


PII = ("pii", {"detect": ["email", "phone", "credit_card", "secret"], "action": "redact"})


@pytest.mark.parametrize(
    ("text", "expected", "found"),
    [
        (f"mail me at {EMAIL}", "mail me at [REDACTED:email]", {"email": 1}),
        (f"card {CARD}", "card [REDACTED:credit_card]", {"credit_card": 1}),
        (f"card {NOT_A_CARD}", f"card {NOT_A_CARD}", {}),
        (f"key {KEY}", "key [REDACTED:secret]", {"secret": 1}),
        ("api_key=abc123def456", "api_key=[REDACTED:secret]", {"secret": 1}),
        ("call +44 20 7946 0958", "call [REDACTED:phone]", {"phone": 1}),
        ("version 1.2.3 on 2024-05-01", "version 1.2.3 on 2024-05-01", {}),
        (
            f"{EMAIL} and bob@example.org",
            "[REDACTED:email] and [REDACTED:email]",
            {"email": 2},
        ),
    ],
    ids=["email", "card", "not-luhn", "api-key", "assigned-key", "phone", "no-pii", "two"],
)
def test_built_in_detectors_redact(text: str, expected: str, found: dict[str, int]) -> None:
    screened = filters(PII).screen("input", text)
    assert screened.value == expected
    assert [dict(h.found) for h in screened.hits] == ([found] if found else [])


def test_custom_patterns_use_re2_with_their_replacement() -> None:
    screened = filters(
        (
            "refs",
            {
                "patterns": [
                    {"name": "order-ref", "pattern": "ORD-[0-9]{6}"},
                    {"name": "ticket", "pattern": "T#(?P<redact>[0-9]+)", "replacement": "***"},
                ],
                "action": "redact",
            },
        )
    ).screen("answer", "ORD-123456 and T#99 and ORD-12")
    assert screened.value == "[REDACTED:order-ref] and T#*** and ORD-12"
    assert dict(screened.hits[0].found) == {"order-ref": 1, "ticket": 1}


def test_a_block_refusal_names_the_filter_and_detectors_never_the_text() -> None:
    screened = filters(("no-cards", {"detect": ["credit_card"], "action": "block"})).screen(
        "input", f"pay with {CARD} please"
    )
    assert screened.blocked is not None
    refusal = screened.refusal()
    assert refusal == (
        "the input was blocked by content filter 'no-cards': it contains credit_card (1);"
        " the task was not run"
    )
    assert "4111" not in refusal
    assert "4111" not in str(screened.record())
    assert screened.value == "pay with [REDACTED:credit_card] please"  # what is kept


def test_block_runs_first_then_redact_then_flag() -> None:
    chain = filters(
        ("watch", {"detect": ["email"], "action": "flag"}),
        ("scrub", {"detect": ["email"], "action": "redact"}),
        ("stop", {"detect": ["secret"], "action": "block"}),
    )
    clean = chain.screen("input", f"write to {EMAIL}")
    # redacted before the flag filter looks: it finds nothing left
    assert clean.value == "write to [REDACTED:email]"
    assert [(h.filter, h.action) for h in clean.hits] == [("scrub", "redact")]
    blocked = chain.screen("input", f"write to {EMAIL} with {KEY}")
    assert [(h.filter, h.action) for h in blocked.hits] == [("stop", "block")]


def test_flag_lets_the_text_pass_and_records_the_hit() -> None:
    screened = filters(("watch", {"detect": ["email"], "action": "flag"})).screen(
        "tool_results", f"from {EMAIL}"
    )
    assert screened.value == f"from {EMAIL}" and screened.blocked is None
    assert screened.record(call="c1", function="lookup") == [
        {
            "where": "tool_results",
            "filter": "watch",
            "action": "flag",
            "found": {"email": 1},
            "call": "c1",
            "function": "lookup",
        }
    ]


def test_a_filter_applies_only_where_it_says() -> None:
    answers_only = filters(
        ("pii", {"detect": ["email"], "action": "redact", "apply_to": ["answer"]})
    )
    assert answers_only.applies("answer") and not answers_only.applies("input")
    assert answers_only.screen("input", EMAIL).value == EMAIL
    assert not ContentFilters().applies("input")


def test_json_arguments_are_screened_in_every_string() -> None:
    screened = filters(PII).screen(
        "tool_args", {"to": EMAIL, "lines": [{"card": CARD}], "amount": 12, "email": "none"}
    )
    assert screened.value == {
        "to": "[REDACTED:email]",
        "lines": [{"card": "[REDACTED:credit_card]"}],
        "amount": 12,
        "email": "none",
    }


def test_a_model_response_is_screened_as_answer_or_calls() -> None:
    chain = filters(PII, ("no-keys", {"detect": ["secret"], "action": "block"}))
    answer = chain.response(ModelResponse(text=f"Your email is {EMAIL}"))
    assert answer.response.text == "Your email is [REDACTED:email]"
    assert answer.refusal is None and answer.filtered[0]["where"] == "answer"
    calls = chain.response(
        ModelResponse(
            tool_calls=(
                ToolCall("c1", "send", {"to": EMAIL}),
                ToolCall("c2", "store", {"key": KEY}),
                ToolCall("c3", "noop", {}),
            )
        )
    )
    assert [c.arguments for c in calls.response.tool_calls] == [
        {"to": "[REDACTED:email]"},
        {"key": "[REDACTED:secret]"},
        {},
    ]
    assert set(calls.blocked_calls) == {"c2"}
    assert "no-keys" in calls.blocked_calls["c2"] and "sk-" not in calls.blocked_calls["c2"]
    # a replay rebuilds the refusals from the recorded hits alone
    assert blocked_calls(calls.filtered) == calls.blocked_calls


def test_a_blocked_answer_says_why() -> None:
    chain = filters(("pci", {"detect": ["credit_card"], "action": "block"}))
    screened = chain.response(ModelResponse(text=f"the card is {CARD}"))
    assert screened.refusal is not None and screened.refusal.startswith(
        "the answer was blocked by content filter 'pci'"
    )
    assert CARD not in screened.response.text


def test_a_catastrophic_pattern_over_a_long_input_finishes_fast() -> None:
    chain = filters(("bad", {"patterns": [{"name": "as", "pattern": "(a+)+$"}], "action": "flag"}))
    started = time.perf_counter()
    screened = chain.screen("input", "a" * 50_000 + "b")
    assert time.perf_counter() - started < 2.0
    assert not screened.hits


def test_a_missing_filter_is_refused_not_skipped() -> None:
    with pytest.raises(LookupError, match="pii"):
        ContentFilters.of(["pii"], {})


# pieces that make near-misses and overlaps of what the detectors look for, and any text
TEXT = st.lists(
    st.sampled_from([*"ab1 @.-:=_+()[]#\n4", EMAIL, CARD, KEY, "ORD-", "[REDACTED:"])
    | st.text(max_size=5),
    max_size=30,
).map("".join)
CHAIN = filters(
    PII,
    ("refs", {"patterns": [{"name": "ref", "pattern": "ORD-[0-9a-z]+"}], "action": "redact"}),
    ("watch", {"detect": ["ip_address", "iban"], "action": "flag"}),
)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_screening_never_raises_and_redacting_twice_is_once(text: str) -> None:
    once = CHAIN.screen("input", text)
    twice = CHAIN.screen("input", once.value)
    assert twice.value == once.value
    assert not [h for h in twice.hits if h.action == "redact"]


@settings(max_examples=100, deadline=None)
@given(st.recursive(TEXT | st.integers() | st.none(), lambda inner: st.lists(inner, max_size=3)))
def test_screening_json_values_never_raises(value: Any) -> None:
    once = CHAIN.screen("tool_args", value)
    assert CHAIN.screen("tool_args", once.value).value == once.value
