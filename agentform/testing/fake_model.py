"""Fakes for the runtime's two outward boundaries: a chat model and a toolbox.

:class:`FakeModel` answers from a list of prepared :class:`ModelResponse` (or raises prepared
exceptions) and remembers every conversation it was shown; :class:`FakeToolbox` serves tools from
plain Python callables and counts calls per idempotency key. Used by tests of the agent loop
(:mod:`agentform.runtime.worker.loop`) in place of real models and MCP servers; the real ones are
exercised against real servers in their own tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentform.runtime.conversation import Message, ModelResponse, ToolSpec

__all__ = ["FakeModel", "FakeToolResult", "FakeToolbox"]


class FakeModel:
    """Answers ``complete`` calls in order from ``answers``; an exception in the list is raised."""

    def __init__(
        self, answers: Sequence[ModelResponse | BaseException], name: str = "fake"
    ) -> None:
        self.name = name
        self.answers = list(answers)
        self.seen: list[list[Message]] = []

    async def complete(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec]
    ) -> ModelResponse:
        self.seen.append(list(messages))
        if not self.answers:
            raise AssertionError("FakeModel was asked more often than it has answers")
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def aclose(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class FakeToolResult:
    content: str
    is_error: bool = False
    tool: str = "fake"


@dataclass
class FakeToolbox:
    """Tools as callables ``f(arguments) -> str``; raising makes an error result."""

    functions: Mapping[str, Callable[[Mapping[str, Any]], str]]
    effects: Mapping[str, str] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    owners: Mapping[str, str] = field(default_factory=dict)  # function -> owner, if not itself

    def specs(self) -> list[ToolSpec]:
        return [ToolSpec(name) for name in self.functions]

    def side_effects(self, name: str) -> str:
        return self.effects.get(name, "unsafe")

    def owner(self, name: str) -> str | None:
        return self.owners.get(name, name) if name in self.functions else None

    async def call(
        self, name: str, arguments: Mapping[str, Any], *, idempotency_key: str
    ) -> FakeToolResult:
        self.calls.append((name, dict(arguments), idempotency_key))
        if name not in self.functions:
            return FakeToolResult(f"there is no tool {name!r}", is_error=True)
        try:
            return FakeToolResult(self.functions[name](arguments))
        except Exception as exc:
            return FakeToolResult(str(exc), is_error=True)
