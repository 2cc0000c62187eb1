"""One model's settings, read from the plain values the spec hands the runtime.

Owns :class:`ModelConfig` (what an adapter needs: endpoint, key, sampling, timeout, retries,
limits, fallback) and :class:`Pricing` (what an answer cost). :func:`parse_config` turns the
mapping the worker receives (``{"provider": "openai", "api_key": "${secret.OPENAI_API_KEY}",
"timeout": "30s", ...}``) into a :class:`ModelConfig`, resolving ``${secret.NAME}`` references
and relative script paths on the way, and raises :class:`PermanentModelError` for anything it
cannot use. Called by :func:`agentform.runtime.models.build_model`; the spec itself is never
imported (the runtime sees plain values only).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from agentform.durations import parse_duration
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
    values: Mapping[str, Any],
    *,
    base_dir: Path,
    secret: Callable[[str], str | None],
) -> ModelConfig:
    """Read model ``name``'s plain ``values``; raise PermanentModelError naming what is wrong."""
    if not isinstance(values, Mapping):
        raise _bad(name, f"its settings must be a mapping, not {type(values).__name__}")
    provider = values.get("provider")
    if provider not in PROVIDERS:
        raise _bad(name, f"provider {provider!r} is unknown; use one of {', '.join(PROVIDERS)}")
    limits = values.get("limits")
    limits = {} if limits is None else limits
    if not isinstance(limits, Mapping):
        raise _bad(name, "limits must be a mapping")
    script = _optional(name, values, "script", str)
    retries_set = values.get("max_retries") is not None
    config = ModelConfig(
        name=name,
        provider=provider,
        model=_optional(name, values, "model", str),
        base_url=_optional(name, values, "base_url", str),
        api_key=_api_key(name, values.get("api_key"), secret),
        script=None if script is None else base_dir / script,
        temperature=_number(name, values, "temperature"),
        max_tokens=_optional(name, values, "max_tokens", int),
        timeout=_timeout(name, values.get("timeout")),
        max_retries=_optional(name, values, "max_retries", int) if retries_set else 3,
        max_concurrency=_optional(name, limits, "max_concurrency", int),
        requests_per_minute=_optional(name, limits, "requests_per_minute", int),
        tokens_per_minute=_optional(name, limits, "tokens_per_minute", int),
        pricing=_pricing(name, values.get("pricing")),
        fallback=_names(name, values.get("fallback")),
    )
    if provider == "scripted" and config.script is None:
        raise _bad(name, "a scripted model needs `script`, the path of its rule file")
    if provider != "scripted" and not config.model:
        raise _bad(name, f"provider {provider} needs `model`, the provider's model id")
    if config.max_retries < 0:
        raise _bad(name, "max_retries must be zero or more")
    if config.max_concurrency is not None and config.max_concurrency < 1:
        raise _bad(name, "limits.max_concurrency must be at least 1")
    return config


def _bad(name: str, problem: str) -> PermanentModelError:
    return PermanentModelError(f"model {name!r}: {problem}; fix the spec and apply again")


def _optional(name: str, values: Mapping[str, Any], key: str, kind: type[Any]) -> Any:
    value = values.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kind):
        what = {"str": "text", "int": "whole number"}.get(kind.__name__, kind.__name__)
        raise _bad(name, f"{key} must be a {what}, not {value!r}")
    return value


def _number(name: str, values: Mapping[str, Any], key: str) -> float | None:
    value = values.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(name, f"{key} must be a number, not {value!r}")
    return float(value)


def _api_key(name: str, value: Any, secret: Callable[[str], str | None]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(name, "api_key must be a string such as ${secret.OPENAI_API_KEY}")
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


def _timeout(name: str, value: Any) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = parse_duration(value).total_seconds()
        except ValueError as error:
            raise _bad(name, f"timeout: {error}") from None
    else:
        raise _bad(name, f"timeout must be a duration such as '30s', not {value!r}")
    if seconds <= 0:
        raise _bad(name, "timeout must be longer than zero")
    return seconds


def _pricing(name: str, value: Any) -> Pricing | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _bad(name, "pricing must be a mapping with input_per_mtok and output_per_mtok")
    return Pricing(
        input_per_mtok=_number(name, value, "input_per_mtok") or 0.0,
        output_per_mtok=_number(name, value, "output_per_mtok") or 0.0,
    )


def _names(name: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _bad(name, "fallback must be a list of model names")
    if not all(isinstance(item, str) for item in value):
        raise _bad(name, "fallback must be a list of model names")
    return tuple(value)
