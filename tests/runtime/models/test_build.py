"""build_model: configs, secrets, fallback chains, retries, pricing, and the public API."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import agentform.runtime.models as models_package
from agentform.runtime.conversation import Message, ModelResponse, ToolSpec
from agentform.runtime.models import (
    ModelError,
    PermanentModelError,
    Pricing,
    TemporaryModelError,
    build_model,
)
from agentform.runtime.models.config import DEFAULT_TIMEOUT, parse_config
from agentform.runtime.models.fallback import FallbackModel, fallback_chain
from agentform.runtime.models.retry import RetryingModel

NO_SECRETS: dict[str, str] = {}


def test_public_api() -> None:
    assert sorted(models_package.__all__) == [
        "ChatModel", "ModelConfig", "ModelError", "PermanentModelError", "Pricing",
        "ScriptedModel", "TemporaryModelError", "build_model",
    ]  # fmt: skip
    assert issubclass(TemporaryModelError, ModelError)
    assert issubclass(PermanentModelError, ModelError)


def test_parse_config_full(tmp_path: Path) -> None:
    values = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "base_url": None,
        "api_key": "${secret.OPENAI_API_KEY}",
        "script": None,
        "temperature": 0,
        "max_tokens": 256,
        "timeout": "30s",
        "max_retries": 5,
        "limits": {"requests_per_minute": 60, "tokens_per_minute": None, "max_concurrency": 2},
        "pricing": {"input_per_mtok": 0.15, "output_per_mtok": 0.6},
        "fallback": ["degraded"],
    }
    config = parse_config("fast", values, base_dir=tmp_path, secret={"OPENAI_API_KEY": "sk"}.get)
    assert (config.api_key, config.timeout, config.max_retries) == ("sk", 30.0, 5)
    assert (config.max_concurrency, config.requests_per_minute) == (2, 60)
    assert (config.temperature, config.fallback) == (0.0, ("degraded",))
    assert config.pricing == Pricing(0.15, 0.6)


def test_parse_config_defaults(tmp_path: Path) -> None:
    config = parse_config(
        "s", {"provider": "scripted", "script": "r.yaml"}, base_dir=tmp_path, secret=NO_SECRETS.get
    )
    assert (config.script, config.timeout, config.max_retries) == (
        tmp_path / "r.yaml",
        DEFAULT_TIMEOUT,
        3,
    )
    assert (config.api_key, config.fallback, config.pricing) == (None, (), None)


X = {"provider": "openai", "model": "x"}  # a valid model, made wrong one field at a time


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"provider": "cohere"}, "provider: Input should be 'openai', 'anthropic' or 'scripted'"),
        ({"provider": "scripted"}, "a scripted model needs `script`"),
        ({"provider": "openai"}, "provider openai needs `model`"),
        (X | {"timeout": "soon"}, "timeout: Value error, invalid duration"),
        (X | {"timeout": 0}, "timeout: Value error, a duration must be a string with a unit"),
        (X | {"max_retries": -1}, "max_retries: Input should be greater than or equal to 0"),
        (X | {"max_tokens": "9"}, "max_tokens: Input should be a valid integer"),
        (X | {"temperature": True}, "temperature: Input should be a valid number"),
        (X | {"fallback": "b"}, "fallback: Input should be a valid list"),
        (X | {"limits": []}, "limits: Input should be a valid dictionary"),
        (
            X | {"limits": {"max_concurrency": 0}},
            "limits.max_concurrency: Input should be greater than or equal to 1",
        ),
        (X | {"pricing": 3}, "pricing: Input should be a valid dictionary"),
        (X | {"api_key": 42}, "api_key: Input should be a valid string"),
        (
            {"provider": "openai", "model": "x", "api_key": "${secret.OPENAI_API_KEY}"},
            "needs the secret OPENAI_API_KEY for its api_key, but it is not set; "
            "set the environment variable OPENAI_API_KEY",
        ),
    ],
    ids=["provider", "no-script", "no-model", "timeout-text", "timeout-zero", "retries",
         "max-tokens", "temperature", "fallback", "limits", "concurrency", "pricing",
         "api-key-type", "missing-secret"],
)  # fmt: skip
def test_bad_config(tmp_path: Path, values: dict[str, Any], message: str) -> None:
    with pytest.raises(PermanentModelError, match="model 'm'") as caught:
        build_model("m", {"m": values}, base_dir=tmp_path, secret=NO_SECRETS.get)
    assert message in str(caught.value)


def test_literal_api_key_is_used_as_is(tmp_path: Path) -> None:
    values = {"provider": "anthropic", "model": "claude", "api_key": "sk-literal"}
    config = parse_config("m", values, base_dir=tmp_path, secret=NO_SECRETS.get)
    assert config.api_key == "sk-literal"


# -- fallback chains -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("graph", "chain"),
    [
        ({"a": []}, ("a",)),
        ({"a": ["b", "c"], "b": [], "c": []}, ("a", "b", "c")),
        ({"a": ["b", "c"], "b": ["d"], "c": [], "d": []}, ("a", "b", "d", "c")),
        ({"a": ["b"], "b": ["a"]}, ("a", "b")),
        ({"a": ["a"]}, ("a",)),
        ({"a": ["b", "c"], "b": ["c"], "c": ["b"]}, ("a", "b", "c")),
    ],
    ids=["alone", "two", "depth-first", "loop", "self", "shared"],
)
def test_fallback_chain(graph: dict[str, list[str]], chain: tuple[str, ...]) -> None:
    assert fallback_chain("a", lambda n: graph[n], graph) == chain


@pytest.mark.parametrize(
    ("name", "graph", "message"),
    [
        ("zz", {"a": []}, "model 'zz' is not defined; the spec's models are: a"),
        ("a", {"a": ["ghost"]}, "model 'a' falls back to 'ghost', which is not defined"),
    ],
    ids=["unknown-model", "unknown-fallback"],
)
def test_fallback_chain_unknown(name: str, graph: dict[str, list[str]], message: str) -> None:
    with pytest.raises(PermanentModelError, match=message):
        fallback_chain(name, lambda n: graph[n], graph)


def scripted_models(tmp_path: Path, **rules: str) -> dict[str, dict[str, Any]]:
    values: dict[str, dict[str, Any]] = {}
    for name, spec in rules.items():
        text, _, fallback = spec.partition(" -> ")
        (tmp_path / f"{name}.yaml").write_text(f"rules: [{text}]")
        values[name] = {
            "provider": "scripted",
            "script": f"{name}.yaml",
            "max_retries": 0,
            "fallback": [f for f in fallback.split(",") if f],
        }
    return values


DOWN = "{fail: {kind: temporary, retry_after: 0.01}}"
BROKEN = "{fail: {kind: permanent}}"


@pytest.mark.parametrize(
    ("rules", "answer"),
    [
        ({"a": "{reply: A} -> b", "b": "{reply: B}"}, "a"),
        ({"a": f"{DOWN} -> b", "b": "{reply: B}"}, "b"),
        ({"a": f"{DOWN} -> b", "b": f"{BROKEN} -> a,c", "c": "{reply: C}"}, "c"),
        ({"a": f"{DOWN} -> b", "b": f"{DOWN} -> a"}, TemporaryModelError),
        ({"a": f"{BROKEN} -> b", "b": f"{BROKEN}"}, PermanentModelError),
        ({"a": f"{BROKEN} -> b", "b": f"{DOWN}"}, TemporaryModelError),
    ],
    ids=["primary", "temporary", "loop-then-third", "loop-all-down", "all-broken", "mixed"],
)
def test_fallback(tmp_path: Path, rules: dict[str, str], answer: str | type[ModelError]) -> None:
    model = build_model("a", scripted_models(tmp_path, **rules), base_dir=tmp_path,
                        secret=NO_SECRETS.get)  # fmt: skip
    conversation = [Message("user", "x")]
    if isinstance(answer, str):
        response = asyncio.run(model.complete(conversation, []))
        assert response.model == answer
        assert model.name == "a"
        return
    with pytest.raises(answer, match="model 'a' and its fallbacks all failed") as caught:
        asyncio.run(model.complete(conversation, []))
    if isinstance(caught.value, TemporaryModelError):
        assert caught.value.retry_after == 0.01


class Flaky:
    """Fails ``failures`` times with ``error``, then answers; counts calls."""

    def __init__(self, failures: int, error: ModelError) -> None:
        self.name = "flaky"
        self.failures = failures
        self.error = error
        self.calls = 0

    async def complete(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec]
    ) -> ModelResponse:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return ModelResponse(text="ok", model=self.name)

    async def aclose(self) -> None:
        return None


@pytest.mark.parametrize(
    ("failures", "error", "max_retries", "calls", "waits", "outcome"),
    [
        (0, TemporaryModelError("x"), 3, 1, [], "ok"),
        (2, TemporaryModelError("x", retry_after=5), 3, 3, [5, 5], "ok"),
        (2, TemporaryModelError("x", retry_after=600), 3, 3, [60, 60], "ok"),
        (3, TemporaryModelError("x", retry_after=1), 2, 3, [1, 1], TemporaryModelError),
        (1, PermanentModelError("x"), 3, 1, [], PermanentModelError),
        (1, TemporaryModelError("x"), 0, 1, [], TemporaryModelError),
    ],
    ids=["first-try", "retry-after", "retry-after-capped", "exhausted", "permanent", "no-retries"],
)
def test_retries(
    failures: int,
    error: ModelError,
    max_retries: int,
    calls: int,
    waits: list[float],
    outcome: str | type[ModelError],
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    flaky = Flaky(failures, error)
    model = RetryingModel(flaky, timeout=1, max_retries=max_retries, sleep=sleep)
    if isinstance(outcome, str):
        assert asyncio.run(model.complete([], [])).text == outcome
    else:
        with pytest.raises(outcome):
            asyncio.run(model.complete([], []))
    assert (flaky.calls, slept) == (calls, waits)


def test_backoff_grows_and_is_capped() -> None:
    model = RetryingModel(Flaky(0, TemporaryModelError("x")), timeout=1, max_retries=9,
                          base_delay=1, max_delay=8)  # fmt: skip
    for attempt, ceiling in enumerate([1, 2, 4, 8, 8]):
        assert ceiling / 2 <= model.delay(attempt, None) <= ceiling


def test_fallback_latency_covers_the_whole_chain() -> None:
    slow = RetryingModel(Flaky(5, TemporaryModelError("x", retry_after=0.05)), timeout=1,
                         max_retries=2)  # fmt: skip
    backup = Flaky(0, TemporaryModelError("unused"))
    backup.name = "backup"
    response = asyncio.run(FallbackModel([slow, backup]).complete([], []))
    assert response.model == "backup"
    assert response.latency_ms >= 100


@pytest.mark.parametrize(
    ("pricing", "tokens", "cost"),
    [
        (Pricing(0.15, 0.6), (1_000_000, 1_000_000), 0.75),
        (Pricing(3.0, 15.0), (2000, 500), 0.0135),
        (Pricing(), (10, 10), 0.0),
    ],
    ids=["mini", "sonnet", "free"],
)
def test_cost(pricing: Pricing, tokens: tuple[int, int], cost: float) -> None:
    response = ModelResponse(input_tokens=tokens[0], output_tokens=tokens[1])
    assert pricing.cost_usd(response) == pytest.approx(cost)


def test_an_answer_carries_its_cost_from_the_answering_models_pricing(tmp_path: Path) -> None:
    models = scripted_models(tmp_path, a=f"{DOWN} -> b", b="{reply: B}")
    models["b"] = {**models["b"], "pricing": {"input_per_mtok": 1000, "output_per_mtok": 2000}}
    model = build_model("a", models, base_dir=tmp_path, secret=NO_SECRETS.get)
    response = asyncio.run(model.complete([Message("user", "hello there")], []))
    expected = (response.input_tokens * 1000 + response.output_tokens * 2000) / 1_000_000
    assert response.model == "b" and expected > 0
    assert response.cost_usd == pytest.approx(expected)
