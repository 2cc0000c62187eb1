"""One model's settings as an adapter needs them, from the model's contract value.

Owns :class:`ModelConfig` (what an adapter needs: endpoint, key, sampling, timeout, retries,
limits, fallback) and :class:`Pricing` (what an answer cost). :func:`parse_config` turns the
:class:`~agentform.contract.ModelValue` the worker receives (plain JSON values are checked against
the contract first, so the defaults are the spec's and a wrong type names its field) into a
:class:`ModelConfig`, resolving ``${secret.NAME}`` references and relative script paths on the
way, and raises :class:`PermanentModelError` for anything it cannot use. Called by
:func:`agentform.runtime.models.build_model`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentform.contract import ContractError, ModelValue, received
from agentform.runtime.conversation import ModelResponse
from agentform.runtime.models.errors import PermanentModelError

__all__ = ["DEFAULT_TIMEOUT", "PROVIDERS", "ModelConfig", "Pricing", "parse_config"]

DEFAULT_TIMEOUT = 60.0
PROVIDERS = ("scripted", "openai", "anthropic")
_SECRET = re.compile(r"^\$\{\s*secret\.([A-Za-z_][A-Za-z0-9_]*)\s*\}$")


@dataclass(frozen=True, slots=True)
class Pricing:
    """US dollars per million input and output tokens."""

    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0

    def cost_usd(self, response: ModelResponse) -> float:
        """What ``response`` cost, from its token counts."""
        return (
            response.input_tokens * self.input_per_mtok
            + response.output_tokens * self.output_per_mtok
        ) / 1_000_000


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Everything one spec model says, with secrets resolved and paths made absolute."""

    name: str
    provider: str
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    script: Path | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = 3
    max_concurrency: int | None = None
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    pricing: Pricing | None = None
    fallback: tuple[str, ...] = ()


def parse_config(
    name: str,
    values: ModelValue | Mapping[str, Any],
    *,
    base_dir: Path,
    secret: Callable[[str], str | None],
) -> ModelConfig:
    """Model ``name``'s settings from its contract value (JSON values are checked against the
    contract first); raise PermanentModelError naming what is wrong."""
    if not isinstance(values, ModelValue):
        if not isinstance(values, Mapping):
            raise _bad(name, f"its settings must be a mapping, not {type(values).__name__}")
        try:
            found = received(f"model.{name}", values)
        except ContractError as exc:
            raise _bad(name, str(exc).split(": ", 1)[1].rsplit("; ", 1)[0]) from None
        assert isinstance(found, ModelValue)
        values = found
    limits, pricing = values.limits, values.pricing
    config = ModelConfig(
        name=name,
        provider=values.provider,
        model=values.model,
        base_url=values.base_url,
        api_key=_api_key(name, values.api_key, secret),
        script=None if values.script is None else base_dir / values.script,
        temperature=values.temperature,
        max_tokens=values.max_tokens,
        timeout=values.timeout.total_seconds() if values.timeout else DEFAULT_TIMEOUT,
        max_retries=values.max_retries,
        max_concurrency=limits.max_concurrency,
        requests_per_minute=limits.requests_per_minute,
        tokens_per_minute=limits.tokens_per_minute,
        pricing=None
        if pricing is None
        else Pricing(
            input_per_mtok=pricing.input_per_mtok, output_per_mtok=pricing.output_per_mtok
        ),
        fallback=tuple(values.fallback),
    )
    if values.provider == "scripted" and config.script is None:
        raise _bad(name, "a scripted model needs `script`, the path of its rule file")
    if values.provider != "scripted" and not config.model:
        raise _bad(name, f"provider {values.provider} needs `model`, the provider's model id")
    return config


def _bad(name: str, problem: str) -> PermanentModelError:
    return PermanentModelError(f"model {name!r}: {problem}; fix the spec and apply again")


def _api_key(name: str, value: str | None, secret: Callable[[str], str | None]) -> str | None:
    if value is None:
        return None
    found = _SECRET.match(value)
    if found is None:
        return value
    key = found.group(1)
    resolved = secret(key)
    if not resolved:
        raise PermanentModelError(
            f"model {name!r} needs the secret {key} for its api_key, but it is not set; "
            f"set the environment variable {key} and start the agent again"
        )
    return resolved
