"""Model adapters of the agent runtime: one :class:`ChatModel` interface, three providers.

The worker calls :func:`build_model` once per agent and then only
:meth:`ChatModel.complete` and :meth:`ChatModel.aclose`. Behind it: ``scripted`` (offline, rule
file), ``openai`` (any OpenAI-compatible endpoint) and ``anthropic`` adapters, each wrapped with
a timeout, retries honouring ``Retry-After``, a concurrency cap and the fallback chain. Failures
are :class:`TemporaryModelError` (retrying later helps) or :class:`PermanentModelError` (it does
not); see :mod:`agentform.runtime.models.errors` for the tree. See ``docs/models.md``.
"""

from __future__ import annotations

from agentform.runtime.models.build import build_model
from agentform.runtime.models.chat import ChatModel
from agentform.runtime.models.config import ModelConfig, Pricing
from agentform.runtime.models.errors import ModelError, PermanentModelError, TemporaryModelError
from agentform.runtime.models.scripted import ScriptedModel

__all__ = [
    "ChatModel",
    "ModelConfig",
    "ModelError",
    "PermanentModelError",
    "Pricing",
    "ScriptedModel",
    "TemporaryModelError",
    "build_model",
]
