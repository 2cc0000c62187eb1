"""Secret fingerprints: a rotation is a change, and no value ever reaches state."""

from __future__ import annotations

import pytest

from agentform.plan import Action, make_plan
from agentform.provider import ResourceValue
from agentform.secrets import FIELD, fingerprint, referenced, values_of, with_fingerprints
from agentform.state.snapshot import RecordedResource, empty

MODEL = ResourceValue.of(
    "model.fast",
    {"provider": "openai", "api_key": "${secret.OPENAI_API_KEY}", "model": "gpt-4o-mini"},
)
TOOL = ResourceValue.of(
    "tool.crm",
    {"mcp": {"url": "http://crm/mcp", "headers": {"Authorization": "Bearer ${secret.CRM_TOKEN}"}}},
)
PLAIN = ResourceValue.of("agent.triage", {"model": "fast"})


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ("${secret.A}", {"A"}),
        ({"x": ["Bearer ${secret.B}", {"y": "${secret.C}${secret.A}"}]}, {"A", "B", "C"}),
        ("${var.A} ${env.B} $secret.C {secret.D}", set()),
        (None, set()),
    ],
    ids=["alone", "nested", "not-secrets", "none"],
)
def test_referenced(value: object, names: set[str]) -> None:
    assert referenced(value) == names


def test_fingerprints_are_added_only_where_secrets_are_referenced() -> None:
    env = {"OPENAI_API_KEY": "sk-one", "CRM_TOKEN": "t0k"}
    out = with_fingerprints({r.address: r for r in (MODEL, TOOL, PLAIN)}, env, "demo")
    assert out["agent.triage"] is PLAIN
    prints = out["model.fast"].values[FIELD]
    assert set(prints) == {"OPENAI_API_KEY"}
    assert prints["OPENAI_API_KEY"].startswith("pbkdf2-sha256:")
    assert "sk-one" not in str(out) and "t0k" not in str(out)
    # the reference itself is kept: the runtime resolves it
    assert out["model.fast"].values["api_key"] == "${secret.OPENAI_API_KEY}"


def test_an_unset_secret_is_none() -> None:
    out = with_fingerprints({MODEL.address: MODEL}, {}, "demo")
    assert out["model.fast"].values[FIELD] == {"OPENAI_API_KEY": None}


def test_fingerprints_differ_by_value_and_by_project() -> None:
    assert fingerprint("a", "p") == fingerprint("a", "p")
    assert len({fingerprint("a", "p"), fingerprint("b", "p"), fingerprint("a", "q")}) == 3


def test_a_fingerprint_is_slow_salted_and_short() -> None:
    secret = "sk-proj-4f9a1c0d2e7b8a6f5e4d3c2b1a0f9e8d"
    made = fingerprint(secret, "demo")
    assert made.startswith("pbkdf2-sha256:") and len(made) == len("pbkdf2-sha256:") + 32
    assert secret not in made and secret[:8] not in made


def test_a_rotated_secret_is_an_update_in_the_plan() -> None:
    project = "demo"
    before = with_fingerprints({MODEL.address: MODEL}, {"OPENAI_API_KEY": "old"}, project)
    state = empty(project, "default").next(
        {
            "model.fast": RecordedResource(
                kind="model",
                name="fast",
                provider="fake",
                id="m1",
                values=dict(before["model.fast"].values),
            )
        }
    )
    same = make_plan(before, state, project=project, environment="default")
    assert not same.has_changes
    after = with_fingerprints({MODEL.address: MODEL}, {"OPENAI_API_KEY": "new"}, project)
    rotated = make_plan(after, state, project=project, environment="default")
    (change,) = [c for c in rotated.changes if c.action is not Action.NOOP]
    assert (change.address, change.action, change.changed) == (
        "model.fast",
        Action.UPDATE,
        (FIELD,),
    )


def test_values_of_hands_over_only_what_is_set() -> None:
    assert values_of(["A", "B"], {"A": "1", "C": "3"}) == {"A": "1"}
