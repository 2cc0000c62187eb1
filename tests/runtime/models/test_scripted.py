"""The scripted model: every example rule file, templates, delay, fail, and bad rule files."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentform.runtime.conversation import Message, ModelResponse, ToolSpec
from agentform.runtime.models import (
    ModelError,
    PermanentModelError,
    ScriptedModel,
    TemporaryModelError,
    build_model,
)
from agentform.runtime.models.script import load_script, parse_script

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE_SCRIPTS = sorted((ROOT / "examples").glob("*/scripts/*.yaml"))


def complete(model: ScriptedModel | Any, messages: Sequence[Message]) -> ModelResponse:
    result: ModelResponse = asyncio.run(model.complete(messages, [ToolSpec("t")]))
    return result


def scripted(text: str, tmp_path: Path, **values: Any) -> Any:
    (tmp_path / "rules.yaml").write_text(text)
    models = {"m": {"provider": "scripted", "script": "rules.yaml", **values}}
    return build_model("m", models, base_dir=tmp_path, secret=lambda _: None)


# -- every example walks through its conversation ----------------------------------------------

# Each step: ("user", text) starts a turn; ("tool", text) answers every call of the previous turn.
# The expectation is "call:<tool>[,<tool>...]" or "reply:<substring>".
WALKS: dict[str, list[tuple[str, str, str]]] = {
    "hello/greeter": [
        ("user", "What is agentform?", "reply:Terraform"),
        ("user", "hello there", "reply:I'm the greeter"),
        ("user", "thanks!", "reply:Have a great day"),
        ("user", "weather?", "reply:only do greetings"),
    ],
    "research-crew/lead": [
        ("user", "Does a four-day week work?", "call:literature,data,legal"),
        (
            "tool",
            "Literature findings: P-201\nData findings: -25.7 %\nLegal findings: EU-2003-88",
            "call:reviewer",
        ),
        ("tool", "Review: approved. Spot-checked", "reply:Brief: does a four-day week work?"),
    ],
    "research-crew/data": [
        ("user", "How did sick days change?", "call:compare"),
        ("tool", '{"pct_change": -25.7}', "reply:Data findings"),
    ],
    "research-crew/legal": [
        ("user", "working time law?", "call:search_regulations"),
        ("tool", "EU-2003-88: 48 hours", "reply:Legal findings"),
    ],
    "research-crew/literature": [
        ("user", "four-day week studies?", "call:search_papers"),
        ("tool", "P-201 pilot of 61 firms", "reply:Literature findings"),
    ],
    "research-crew/reviewer": [
        ("user", "Please review the brief", "call:get_paper"),
        ("tool", "P-201: pilot", "reply:Review: approved"),
        ("user", "hi", "reply:Review: changes requested"),
    ],
    "scheduled-report/backlog": [
        ("user", "check the backlog", "call:open_backlog"),
        ("tool", '{"urgent_or_high_past_sla": 12}', "reply:ALARM"),
        ("user", "check again", "call:open_backlog"),
        ("tool", '{"urgent_or_high_past_sla": 2}', "reply:Backlog OK"),
    ],
    "scheduled-report/reporter": [
        ("user", "Write the weekly report", "call:ticket_stats"),
        ("tool", '{"resolved_pct": 81}', "call:top_topics"),
        ("tool", '[{"topic": "billing"}]', "reply:Weekly support report"),
    ],
    "support-desk/billing": [
        ("user", "I want my money back", "call:search_kb"),
        ("tool", "kb-104 refund policy", "call:issue_refund"),
        ("tool", '{"status": "refunded"}', "reply:refund has been issued"),
        ("user", "refund please", "call:search_kb"),
        ("tool", "kb-104", "call:issue_refund"),
        ("tool", "denied by policy", "reply:reviewed by a support lead"),
        ("user", "where is my invoice?", "call:search_kb"),
        ("tool", "kb-103", "reply:Settings > Billing"),
        ("user", "hello", "reply:Sorry, I can only help"),
    ],
    "support-desk/degraded": [
        ("user", "anything at all", "reply:temporarily unavailable"),
    ],
    "support-desk/triage": [
        ("user", "I was charged twice", "call:billing"),
        ("tool", "Your refund has been issued", "reply:billing specialist"),
        ("user", "my robot does not reach the dock", "call:search_kb"),
        ("tool", '[{"id": "kb-105", "title": "T", "snippet": "C"}]', "call:get_article"),
        ("tool", '{"id": "kb-105", "title": "T", "body": "Clean it."}', "reply:says: Clean it."),
        ("user", "I forgot my password", "call:search_kb"),
        ("tool", '[{"id": "kb-101", "title": "T", "snippet": "O"}]', "call:get_article"),
        ("tool", '{"id": "kb-101", "title": "T", "body": "Forgot it."}', "reply:says: Forgot it."),
        ("user", "do you sell cake?", "reply:couldn't find an answer"),
        ("user", "where is my invoice?", "call:billing"),
        ("tool", "All your invoices are under Settings > Billing > Invoices", "reply:All your"),
    ],
}


def example_name(path: Path) -> str:
    return f"{path.parents[1].name}/{path.stem}"


def test_every_example_script_has_a_walk() -> None:
    assert sorted(WALKS) == sorted(example_name(p) for p in EXAMPLE_SCRIPTS)


@pytest.mark.parametrize("path", EXAMPLE_SCRIPTS, ids=example_name)
def test_example_script_parses(path: Path) -> None:
    script = load_script(path)
    assert script.rules
    assert all(rule.reply is not None or rule.calls for rule in script.rules)


@pytest.mark.parametrize("name", sorted(WALKS))
def test_example_walk(name: str) -> None:
    project, stem = name.split("/")
    models = {"m": {"provider": "scripted", "script": f"scripts/{stem}.yaml"}}
    model = build_model("m", models, base_dir=ROOT / "examples" / project, secret=lambda _: None)
    messages: list[Message] = [Message("system", "You are an agent.")]
    previous: ModelResponse | None = None
    for kind, text, expected in WALKS[name]:
        if kind == "user":
            messages.append(Message("user", text))
        else:
            assert previous is not None and previous.tool_calls
            messages += [Message("tool", text, tool_call_id=c.id) for c in previous.tool_calls]
        previous = complete(model, messages)
        what, _, detail = expected.partition(":")
        if what == "call":
            assert [c.name for c in previous.tool_calls] == detail.split(","), (text, previous)
            assert previous.finish_reason == "tool_calls"
        else:
            assert detail in previous.text and not previous.tool_calls, (text, previous)
        assert previous.model == "m"
        assert previous.input_tokens > 0 and previous.output_tokens > 0
        messages.append(previous.message)


def test_old_tool_results_do_not_trigger_again() -> None:
    model = ScriptedModel("lead", load_script(ROOT / "examples/research-crew/scripts/lead.yaml"))
    first = complete(model, [Message("user", "four-day week?")])
    assert [c.name for c in first.tool_calls] == ["literature", "data", "legal"]
    messages = [
        Message("user", "four-day week?"),
        first.message,
        Message("tool", "Literature findings: ...", tool_call_id="call_0_0"),
        Message("tool", "Data findings: ...", tool_call_id="call_0_1"),
        Message("tool", "Legal findings: ...", tool_call_id="call_0_2"),
    ]
    second = complete(model, messages)
    assert [c.name for c in second.tool_calls] == ["reviewer"]
    messages += [second.message, Message("tool", "nothing useful", tool_call_id="call_1")]
    third = complete(model, messages)
    # the specialists' results are older than the last assistant turn: only the question matches
    assert [c.name for c in third.tool_calls] == ["literature", "data", "legal"]


def test_call_ids_count_assistant_turns_and_replay_identically() -> None:
    script = parse_script(
        "rules: [{call: [{tool: a}, {tool: b, arguments: {x: 1}}]}]", "inline.yaml"
    )
    messages = [Message("user", "go"), Message("assistant", "", ()), Message("user", "again")]
    one = complete(ScriptedModel("m", script), messages)
    two = complete(ScriptedModel("m", script), messages)
    assert [c.id for c in one.tool_calls] == ["call_1_0", "call_1_1"]
    assert one.tool_calls == two.tool_calls
    assert one.tool_calls[1].arguments == {"x": 1}


# -- templates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "messages", "expected"),
    [
        ("{reply: 'You said {{ user }}'}", [("user", "hi")], "You said hi"),
        (
            "{match: {user: 'order (A-\\d+)'}, reply: 'Order {{ match[1] }}'}",
            [("user", "where is order A-17?")],
            "Order A-17",
        ),
        (
            "{match: {user: '(?P<who>\\w+) here'}, reply: 'Hi {{ match.who }}'}",
            [("user", "Ana here")],
            "Hi Ana",
        ),
        (
            "{match: {tool_result: 'total: (\\d+)'}, reply: '{{ match[1] | int * 2 }}'}",
            [("user", "sum"), ("assistant", ""), ("tool", "total: 21")],
            "42",
        ),
        ("{reply: '{{ tool_result | upper }}!'}", [("tool", "a"), ("tool", "b")], "A\nB!"),
        ("{reply: 'braces { are } fine'}", [("user", "x")], "braces { are } fine"),
    ],
    ids=["user", "group", "named-group", "tool-result-group", "tool-results-joined", "no-template"],
)
def test_reply_templates(rule: str, messages: list[tuple[str, str]], expected: str) -> None:
    model = ScriptedModel("m", parse_script(f"rules: [{rule}]", "inline.yaml"))
    turns = [Message(role, text) for role, text in messages]  # type: ignore[arg-type]
    assert complete(model, turns).text == expected


def test_argument_templates_render_nested_values() -> None:
    text = """
rules:
  - match: {user: 'find (\\w+)'}
    call:
      tool: search
      arguments: {query: "{{ match[1] }}", limit: 3, filters: [{field: "{{ user }}"}]}
"""
    model = ScriptedModel("m", parse_script(text, "inline.yaml"))
    response = complete(model, [Message("user", "find cats")])
    assert response.tool_calls[0].arguments == {
        "query": "cats",
        "limit": 3,
        "filters": [{"field": "find cats"}],
    }


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("{{ match[5] }}", "rule 1: template"),
        ("{{ ''.__class__.__mro__ }}", "rule 1: template"),
        ("{{ 'x' * 10000000000 }}", "over"),
    ],
    ids=["undefined-group", "sandbox-escape", "too-big"],
)
def test_template_failures_are_permanent(reply: str, expected: str) -> None:
    model = ScriptedModel("m", parse_script(yaml.safe_dump({"rules": [{"reply": reply}]}), "r.y"))
    with pytest.raises(PermanentModelError, match=r"r\.y") as caught:
        complete(model, [Message("user", "x")])
    assert expected in str(caught.value)


# -- delay and fail ------------------------------------------------------------------------------


def test_delay_sleeps_before_answering(tmp_path: Path) -> None:
    model = scripted("rules: [{delay: 200ms, reply: slow}]", tmp_path)
    started = time.perf_counter()
    response = complete(model, [Message("user", "x")])
    assert response.text == "slow"
    assert time.perf_counter() - started >= 0.2
    assert response.latency_ms >= 200


def test_delay_longer_than_timeout_is_temporary(tmp_path: Path) -> None:
    model = scripted("rules: [{delay: 2s, reply: slow}]", tmp_path, timeout="100ms", max_retries=0)
    with pytest.raises(TemporaryModelError, match=r"did not answer within 0.1s"):
        complete(model, [Message("user", "x")])


def test_temporary_failures_are_retried_until_the_rule_is_spent(tmp_path: Path) -> None:
    text = "rules: [{fail: {kind: temporary, retry_after: 0, times: 2}}, {reply: recovered}]"
    model = scripted(text, tmp_path, max_retries=2)
    response = complete(model, [Message("user", "x")])
    assert response.text == "recovered"


def test_retries_exhausted_raise_temporary_with_retry_after(tmp_path: Path) -> None:
    text = "rules: [{fail: {kind: temporary, retry_after: 0, message: overloaded}}]"
    model = scripted(text, tmp_path, max_retries=2)
    with pytest.raises(TemporaryModelError, match=r"overloaded.*after 3 attempts") as caught:
        complete(model, [Message("user", "x")])
    assert caught.value.retry_after == 0


@pytest.mark.parametrize("kind", ["temporary", "permanent"])
def test_failing_model_falls_back(tmp_path: Path, kind: str) -> None:
    (tmp_path / "main.yaml").write_text(f"rules: [{{fail: {{kind: {kind}, retry_after: 0}}}}]")
    (tmp_path / "backup.yaml").write_text("rules: [{reply: from backup}]")
    models: dict[str, dict[str, Any]] = {
        "main": {"provider": "scripted", "script": "main.yaml", "fallback": ["backup"]},
        "backup": {"provider": "scripted", "script": "backup.yaml"},
    }
    model = build_model("main", models, base_dir=tmp_path, secret=lambda _: None)
    response = complete(model, [Message("user", "x")])
    assert (response.text, response.model, model.name) == ("from backup", "backup", "main")


def test_permanent_failure_is_not_retried(tmp_path: Path) -> None:
    text = "rules: [{fail: {kind: permanent, times: 1}}, {reply: second try}]"
    model = scripted(text, tmp_path, max_retries=3)
    with pytest.raises(PermanentModelError, match="scripted failure"):
        complete(model, [Message("user", "x")])
    assert complete(model, [Message("user", "x")]).text == "second try"


def test_no_matching_rule_is_permanent(tmp_path: Path) -> None:
    model = scripted("rules: [{match: {user: zzz}, reply: a}]", tmp_path)
    with pytest.raises(PermanentModelError, match=r"no rule in .*rules\.yaml matches"):
        complete(model, [Message("user", "x")])


# -- bad rule files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "cannot read the rule file"),
        ("rules: [", "not valid YAML"),
        ("- reply: x", "exactly one key, `rules`"),
        ("rules: []\nextra: 1", "exactly one key, `rules`"),
        ("rules: []", "non-empty list"),
        ("rules: [hello]", "rule 1: a rule must be a mapping"),
        ("rules: [{reply: a, call: {tool: t}}]", "rule 1: a rule needs exactly one of"),
        ("rules: [{match: {user: x}}]", "rule 1: a rule needs exactly one of"),
        ("rules: [{reply: a}, {reply: b, colour: red}]", "rule 2: unknown key(s) colour"),
        ("rules: [{match: {body: x}, reply: a}]", "`match` must be a mapping"),
        ("rules: [{match: {user: '('}, reply: a}]", "match.user '(' is not a valid regular"),
        ("rules: [{match: {tool_result: 3}, reply: a}]", "match.tool_result must be a regular"),
        ("rules: [{reply: 3}]", "`reply` must be text"),
        ("rules: [{call: {tool: ''}}]", "`call.tool` must be a tool name"),
        ("rules: [{call: {tool: t, arguments: [1]}}]", "`call.arguments` must be a mapping"),
        ("rules: [{call: {tool: t, args: {}}}]", "`call` must be a mapping {tool"),
        ("rules: [{call: []}]", "`call` must name a tool"),
        ("rules: [{reply: '{{ user '}]", "does not compile"),
        ("rules: [{reply: a, delay: soon}]", "`delay`: invalid duration 'soon'"),
        ("rules: [{reply: a, delay: -1}]", "`delay` must be a duration"),
        ("rules: [{fail: {kind: maybe}}]", "`fail.kind` must be temporary or permanent"),
        ("rules: [{fail: {kind: temporary, times: 0}}]", "`fail.times` must be a whole number"),
        ("rules: [{fail: {kind: temporary, retry_after: x}}]", "`fail.retry_after` must be"),
        ("rules: [{fail: {kind: permanent, why: x}}]", "`fail` must be a mapping with kind"),
    ],
    ids=[
        "missing-file", "yaml-error", "not-a-mapping", "extra-top-key", "no-rules",
        "rule-not-mapping", "reply-and-call", "no-action", "unknown-key", "match-key",
        "bad-regex", "regex-not-text", "reply-not-text", "empty-tool", "arguments-list",
        "call-key", "empty-call-list", "template-syntax", "delay-text", "delay-negative",
        "fail-kind", "fail-times", "fail-retry-after", "fail-key",
    ],
)  # fmt: skip
def test_bad_rule_file(tmp_path: Path, text: str | None, expected: str) -> None:
    if text is not None:
        (tmp_path / "rules.yaml").write_text(text)
    models = {"m": {"provider": "scripted", "script": "rules.yaml"}}
    with pytest.raises(PermanentModelError) as caught:
        build_model("m", models, base_dir=tmp_path, secret=lambda _: None)
    assert str(tmp_path / "rules.yaml") in str(caught.value)
    assert expected in str(caught.value)


# -- fuzzing: the parser raises nothing but PermanentModelError -----------------------------------

KEYS = st.sampled_from(
    ["rules", "match", "user", "tool_result", "reply", "call", "tool", "arguments", "fail",
     "kind", "times", "retry_after", "message", "delay", "x"]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True),
    st.sampled_from(["temporary", "permanent", "2s", "(", ".", "{{ user }}", "{{", "{% if %}"]),
    st.text(max_size=12),
)
STRUCTURES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=25,
)
MESSAGES = st.lists(
    st.builds(
        Message,
        role=st.sampled_from(["system", "user", "assistant", "tool"]),
        content=st.text(max_size=20),
    ),
    max_size=5,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=STRUCTURES, messages=MESSAGES)
def test_fuzz_rule_structures(rules: Any, messages: list[Message]) -> None:
    text = yaml.safe_dump({"rules": rules})
    try:
        script = parse_script(text, "fuzz.yaml")
    except PermanentModelError as error:
        assert "fuzz.yaml" in str(error)
        return
    model = ScriptedModel("fuzz", script)
    try:
        response = complete(model, messages)
    except ModelError:
        return
    assert response.model == "fuzz"


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=80) | st.binary(max_size=80).map(lambda b: b.decode("latin-1")))
def test_fuzz_rule_text(text: str) -> None:
    with contextlib.suppress(PermanentModelError):
        parse_script(text, "fuzz.yaml")
