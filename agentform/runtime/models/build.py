"""Turning a spec model name into a ready :class:`ChatModel`: :func:`build_model`.

Owns the table from ``provider`` to adapter class and the assembly order: read every model of
the fallback chain (:func:`~agentform.runtime.models.fallback.fallback_chain`) with
:func:`~agentform.runtime.models.config.parse_config` (secrets resolved, scripts loaded and
validated now, so a bad config fails at start, not mid-task), wrap each adapter in a
:class:`~agentform.runtime.models.retry.RetryingModel`, and put them in a
:class:`~agentform.runtime.models.fallback.FallbackModel`. Called by the worker when an agent
starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from agentform.contract import ModelValue
from agentform.runtime.models.anthropic import AnthropicModel
from agentform.runtime.models.chat import ChatModel
from agentform.runtime.models.config import ModelConfig, parse_config
from agentform.runtime.models.fallback import FallbackModel, fallback_chain
from agentform.runtime.models.openai import OpenAIModel
from agentform.runtime.models.rate import RateLimit, SharedRateLimit
from agentform.runtime.models.retry import RetryingModel
from agentform.runtime.models.scripted import ScriptedModel
from agentform.runtime.store.ratelimits import Limiter

__all__ = ["ADAPTERS", "build_model"]

ADAPTERS: Mapping[str, Callable[[ModelConfig], ChatModel]] = {
    "scripted": ScriptedModel.from_config,
    "openai": OpenAIModel,
    "anthropic": AnthropicModel,
}


def build_model(
    name: str,
    models: Mapping[str, ModelValue | Mapping[str, Any]],
    *,
    base_dir: Path,
    secret: Callable[[str], str | None],
    limiter: Limiter | None = None,
) -> ChatModel:
    """Model ``name`` of ``models`` (plain spec values) with retries, timeout and fallbacks.

    Raises PermanentModelError when a model of the chain is unknown or misconfigured, a secret
    is missing, or a rule file is invalid. With ``limiter`` (the runtime store's counters), a
    model's ``limits`` are counted across every process that uses it, not per process.
    """
    configs: dict[str, ModelConfig] = {}

    def fallbacks(current: str) -> tuple[str, ...]:
        configs[current] = parse_config(current, models[current], base_dir=base_dir, secret=secret)
        return configs[current].fallback

    chain = fallback_chain(name, fallbacks, models)
    return FallbackModel([_wrapped(n, configs[n], limiter) for n in chain])


def _wrapped(name: str, config: ModelConfig, limiter: Limiter | None) -> ChatModel:
    rate: RateLimit | SharedRateLimit | None = None
    if config.requests_per_minute or config.tokens_per_minute:
        if limiter is not None:
            rate = SharedRateLimit(
                limiter, name, config.requests_per_minute, config.tokens_per_minute
            )
        else:
            rate = RateLimit(config.requests_per_minute, config.tokens_per_minute)
    return RetryingModel(
        ADAPTERS[config.provider](config),
        timeout=config.timeout,
        max_retries=config.max_retries,
        max_concurrency=config.max_concurrency,
        rate=rate,
        pricing=config.pricing,
    )
