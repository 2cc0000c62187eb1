"""Content filters: what an agent's text is screened for, where, and what a hit does.

The spec's ``filters`` each name built-in detectors (the memory module's redaction rules:
:mod:`agentform.runtime.store.memory.redact`, card numbers Luhn-checked, ``secret`` for API keys
and tokens) and custom patterns (compiled by RE2, :mod:`agentform.patterns`: linear in time, so
no pattern or input can hang an agent), an ``action`` and the places it applies to: the task's
``input``, its final ``answer``, tool call arguments (``tool_args``) and tool results
(``tool_results``). An agent lists the filters it uses.

At one place, the filters that apply run **block first, then redact, then flag**, each kind in
the order the agent lists them: a ``block`` filter sees the text as it came; a hit refuses it
and nothing after runs. ``redact`` filters replace each hit (``[REDACTED:email]``), one after
the other. ``flag`` filters see what is left and let it pass. Every hit (the filter, its action,
each detector and how often it matched, never the matched text) is returned for the audit log,
and a refusal names the filter and the detectors, never the text.

This module owns :class:`ContentFilters`, :class:`Screened` and :class:`Hit`. Pure (no I/O).
Used by the agent loop (:mod:`agentform.runtime.worker.loop`: every place) and the engine
(:mod:`agentform.runtime.host.engine`: a task's input before it is recorded).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agentform.contract import FilterValue
from agentform.patterns import compile_pattern
from agentform.runtime.conversation import ModelResponse
from agentform.runtime.store.memory.redact import Redactor, Rule

__all__ = [
    "ACTIONS",
    "PLACES",
    "ContentFilters",
    "Hit",
    "MissingFilter",
    "Place",
    "Screened",
    "ScreenedResponse",
    "blocked_calls",
]

Place = Literal["input", "answer", "tool_args", "tool_results"]
PLACES: tuple[Place, ...] = ("input", "answer", "tool_args", "tool_results")
ACTIONS = ("block", "redact", "flag")  # the order they run in at one place

# what a refusal says was blocked, what held the hits, and what became of it
_REFUSED = {
    "input": ("the input", "it contains", "the task was not run"),
    "answer": ("the answer", "it contains", "it was not returned"),
    "tool_args": ("the call", "its arguments contain", "it was not made"),
    "tool_results": ("the tool's result", "it contains", "it is not shown"),
}


@dataclass(frozen=True, slots=True)
class Hit:
    """One filter found something at one place: each detector and how many matches."""

    filter: str
    action: str
    found: Mapping[str, int]

    def to_dict(self, where: Place, **about: str) -> dict[str, Any]:
        """The hit as recorded with a step and audited (``filter.hit``): never the text."""
        return {
            "where": where,
            "filter": self.filter,
            "action": self.action,
            "found": dict(sorted(self.found.items())),
            **about,
        }


@dataclass(frozen=True, slots=True)
class Screened:
    """What screening one value gave: ``value`` with every block and redact hit replaced (a
    blocked value is recorded like that, never as it came), and the hits in the order found."""

    where: Place
    value: Any
    hits: tuple[Hit, ...] = ()

    @property
    def blocked(self) -> Hit | None:
        return next((h for h in self.hits if h.action == "block"), None)

    def record(self, **about: str) -> list[dict[str, Any]]:
        """The hits as step data (``data["filtered"]``), with what they were about (the
        call's id and function)."""
        return [hit.to_dict(self.where, **about) for hit in self.hits]

    def refusal(self) -> str:
        """Why the value was refused: the filter and its detectors, never the matched text."""
        hit = self.blocked
        if hit is None:
            return ""
        what, held, then = _REFUSED[self.where]
        found = ", ".join(f"{name} ({n})" for name, n in sorted(hit.found.items()))
        return f"{what} was blocked by content filter {hit.filter!r}: {held} {found}; {then}"


@dataclass(frozen=True, slots=True)
class ScreenedResponse:
    """A model's answer after screening: its text (the ``answer``, when it calls no tool) and
    its calls' arguments (``tool_args``) redacted, the hits, and the calls refused (id -> why)."""

    response: ModelResponse
    filtered: list[dict[str, Any]]
    blocked_calls: dict[str, str]
    refusal: str | None = None  # the answer was blocked: why


@dataclass(frozen=True, slots=True)
class _Filter:
    name: str
    action: str
    places: frozenset[str]
    redactor: Redactor


class MissingFilter(LookupError):
    """An agent lists a filter its configuration does not carry: it must not run unscreened."""


class ContentFilters:
    """The filters one agent uses, compiled once, in the order it lists them."""

    def __init__(self, filters: Sequence[tuple[str, FilterValue]] = ()) -> None:
        compiled = [_compile(name, value) for name, value in filters]
        # block, then redact, then flag; the agent's order within each (sorted is stable)
        self._filters = sorted(compiled, key=lambda f: ACTIONS.index(f.action))
        self._places = frozenset(p for f in self._filters for p in f.places)

    @classmethod
    def of(cls, names: Sequence[str], values: Mapping[str, FilterValue]) -> ContentFilters:
        """The filters ``names`` lists (an agent's ``filters``), from the filters' values;
        LookupError for a name that has none (planning orders a filter before its agents, so
        this is a damaged configuration: the worker must not run unscreened)."""
        missing = [name for name in names if name not in values]
        if missing:
            raise MissingFilter(
                f"the content filter(s) {', '.join(missing)} the agent lists were not sent to"
                " it; run 'agentform apply' again"
            )
        return cls([(name, values[name]) for name in names])

    def __bool__(self) -> bool:
        return bool(self._filters)

    def __repr__(self) -> str:
        return f"ContentFilters({', '.join(f.name for f in self._filters)})"

    def applies(self, where: Place) -> bool:
        return where in self._places

    def screen(self, where: Place, value: Any, *, actions: Collection[str] = ACTIONS) -> Screened:
        """``value`` (text, or a JSON value: every string in it) screened by the filters that
        apply at ``where`` and take one of ``actions``."""
        hits: list[Hit] = []
        for f in self._filters:
            if where not in f.places or f.action not in actions:
                continue
            redacted, found = f.redactor.redact_value(value)
            if not found:
                continue
            hits.append(Hit(f.name, f.action, found))
            if f.action == "block":
                return Screened(where, redacted, tuple(hits))
            if f.action == "redact":
                value = redacted
        return Screened(where, value, tuple(hits))

    def response(self, response: ModelResponse) -> ScreenedResponse:
        """``response`` screened before it is recorded or acted on: its text when it is the
        task's answer (no tool calls), else each call's arguments."""
        filtered: list[dict[str, Any]] = []
        if not response.tool_calls:
            if not self.applies("answer"):
                return ScreenedResponse(response, filtered, {})
            screened = self.screen("answer", response.text)
            if not screened.hits:
                return ScreenedResponse(response, filtered, {})
            changed = dataclasses.replace(response, text=str(screened.value))
            refusal = screened.refusal() or None
            return ScreenedResponse(changed, screened.record(), {}, refusal)
        if not self.applies("tool_args"):
            return ScreenedResponse(response, filtered, {})
        blocked: dict[str, str] = {}
        calls = []
        for call in response.tool_calls:
            screened = self.screen("tool_args", dict(call.arguments))
            if not screened.hits:
                calls.append(call)
                continue
            filtered.extend(screened.record(call=call.id, function=call.name))
            calls.append(dataclasses.replace(call, arguments=screened.value))
            if screened.blocked is not None:
                blocked[call.id] = screened.refusal()
        if not filtered:
            return ScreenedResponse(response, filtered, {})
        return ScreenedResponse(
            dataclasses.replace(response, tool_calls=tuple(calls)), filtered, blocked
        )


def _compile(name: str, value: FilterValue) -> _Filter:
    custom = [
        Rule(p.name, compile_pattern(p.pattern), p.replacement or f"[REDACTED:{p.name}]")
        for p in value.patterns
    ]
    builtin = Redactor.from_spec(list(value.detect)).rules
    return _Filter(name, value.action, frozenset(value.apply_to), Redactor([*custom, *builtin]))


def blocked_calls(filtered: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The calls a recorded model step's hits refused (id -> why): a task replayed after a
    crash refuses them again, though their recorded arguments no longer hold what was found."""
    out: dict[str, str] = {}
    for hit in filtered:
        if hit.get("where") == "tool_args" and hit.get("action") == "block" and hit.get("call"):
            screened = Screened("tool_args", None, (Hit(hit["filter"], "block", hit["found"]),))
            out.setdefault(str(hit["call"]), screened.refusal())
    return out
