"""Sensitive variables in a worker: their values, where they are put back, what is masked.

Planning sends the agent and its tools with ``${var.NAME}`` where the spec used a variable
declared ``sensitive: true``, and each value's ``sensitive`` field names the variables it
references; the engine gives the worker their values in its environment (``AGENTFORM_VAR_NAME``,
kept in the engine's memory only; :mod:`agentform.contract.sensitive`). This module owns
:class:`Sensitive`, read once when the worker starts (a value that is missing stops the worker
with the reason): it resolves the references in the tools' MCP ``env`` and ``headers`` and A2A
``headers`` before the toolbox starts them, puts the values the instructions reference into what
the model is sent, and masks every value it knows, with its reference, in what the agent loop
records or hands on (steps, the answer, approval requests, a delegate's message). Called by
:mod:`agentform.runtime.worker.process`; used by :mod:`agentform.runtime.worker.loop`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from agentform.contract import AgentValue, ToolValue
from agentform.contract.sensitive import env_name, mask, reveal
from agentform.runtime.conversation import Message
from agentform.runtime.errors import PermanentError
from agentform.runtime.store import NewStep

__all__ = ["MissingValue", "Sensitive"]

T = TypeVar("T")


class MissingValue(PermanentError):
    """A sensitive variable the agent or its tools use has no value in the worker's
    environment (an engine restarted since the apply that gave it)."""


@dataclass(frozen=True, slots=True)
class Sensitive:
    """The sensitive values of one worker: ``values`` (every one its agent and tools use,
    masked in what it records) and ``prompt`` (those the instructions use, given to the model)."""

    values: Mapping[str, str] = field(default_factory=dict, repr=False)
    prompt: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def of(
        cls, agent: AgentValue, tools: Mapping[str, ToolValue], environ: Mapping[str, str]
    ) -> Sensitive:
        """The values ``agent`` and ``tools`` need, from ``environ``; raise
        :class:`MissingValue` naming the first that is not there."""
        names = set(agent.sensitive).union(*(tool.sensitive for tool in tools.values()))
        values: dict[str, str] = {}
        for name in sorted(names):
            value = environ.get(env_name(name))
            if value is None:
                raise MissingValue(
                    f"the value of the sensitive variable {name!r} is not known to this worker:"
                    " the engine keeps such values in memory only, from the apply that sent"
                    " them; run 'agentform apply' again"
                )
            values[name] = value
        return cls(values, {n: values[n] for n in agent.sensitive})

    def tools(self, tools: Mapping[str, ToolValue]) -> dict[str, ToolValue]:
        """``tools`` with their references resolved where the spec may use them: MCP ``env``
        and ``headers``, A2A ``headers`` (for the toolbox; never written anywhere)."""
        return {name: self._tool(tool) for name, tool in tools.items()}

    def _tool(self, tool: ToolValue) -> ToolValue:
        own = {n: self.values[n] for n in tool.sensitive if n in self.values}
        if not own:
            return tool
        update: dict[str, Any] = {}
        if tool.mcp is not None:
            update["mcp"] = tool.mcp.model_copy(
                update={
                    "env": _revealed(tool.mcp.env, own),
                    "headers": _revealed(tool.mcp.headers, own),
                }
            )
        if tool.a2a is not None:
            headers = _revealed(tool.a2a.headers, own)
            update["a2a"] = tool.a2a.model_copy(update={"headers": headers})
        return tool.model_copy(update=update)

    def mask(self, value: T) -> T:
        """``value`` with every sensitive value replaced by its reference (``${var.NAME}``)."""
        if not self.values:
            return value
        masked: T = mask(value, self.values)
        return masked

    def steps(self, steps: Sequence[NewStep]) -> list[NewStep]:
        """``steps`` with their data masked, for recording."""
        if not self.values:
            return list(steps)
        return [dataclasses.replace(s, data=mask(s.data, self.values)) for s in steps]

    def messages(self, messages: Sequence[Message]) -> Sequence[Message]:
        """What the model is sent: the values the instructions use put back wherever the
        conversation holds their reference (the instructions, and turns recorded masked)."""
        if not self.prompt:
            return messages
        return [
            dataclasses.replace(m, content=reveal(m.content, self.prompt))
            if "${var." in m.content
            else m
            for m in messages
        ]

    def arguments(self, arguments: Mapping[str, Any]) -> Mapping[str, Any]:
        """A tool call's arguments with the values the instructions use put back: a call
        replayed from its record (masked) is made as the model asked for it."""
        if not self.prompt:
            return arguments
        return {k: _put_back(v, self.prompt) for k, v in arguments.items()}


def _revealed(texts: Mapping[str, str], values: Mapping[str, str]) -> dict[str, str]:
    return {k: reveal(v, values) for k, v in texts.items()}


def _put_back(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return reveal(value, values)
    if isinstance(value, Mapping):
        return {k: _put_back(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_put_back(v, values) for v in value]
    return value
