"""The one interface the worker talks to: :class:`ChatModel`.

Every adapter (:mod:`~agentform.runtime.models.scripted`, :mod:`~agentform.runtime.models.openai`,
:mod:`~agentform.runtime.models.anthropic`) and every wrapper
(:mod:`~agentform.runtime.models.retry`, :mod:`~agentform.runtime.models.fallback`) satisfies it,
so the worker (:mod:`agentform.runtime.worker.process`) never learns which provider answered except
from
:attr:`ModelResponse.model`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from agentform.runtime.conversation import Message, ModelResponse, ToolSpec

__all__ = ["ChatModel"]


class ChatModel(Protocol):
    """A model the agent loop can ask for its next turn."""

    name: str
    """The spec's name of the model (not the provider's model id)."""

    async def complete(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec]
    ) -> ModelResponse:
        """The model's next turn; raises TemporaryModelError or PermanentModelError."""
        ...

    async def aclose(self) -> None:
        """Release connections; the model is not used afterwards."""
        ...
