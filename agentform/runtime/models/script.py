"""The rule file of a scripted model: parsing, validating, and finding the rule that fits.

A rule file is YAML with one key, ``rules``: a list tried in order, the first that matches wins::

    rules:
      - match: {tool_result: 'P-(\\d+)'}     # searched in the tool results since the last
        reply: "Paper {{ match[1] }} found"  # assistant turn; `user` searches the latest user
      - match: {user: '(?i)hello'}           # message; both keys: both must match
        call: {tool: search, arguments: {query: "{{ user }}"}}
      - delay: 2s                            # wait before answering (a slow model)
        fail: {kind: temporary, retry_after: 1, times: 2, message: overloaded}
      - match: {context: 'order (\\d+)'}      # searched in everything before the latest
        reply: "About order {{ match[1] }}"  # user message: history, memories in context
      - reply: "default"                     # no match: always matches

Each rule has exactly one action: ``reply`` (text), ``call`` (one ``{tool, arguments}`` or a
list of them) or ``fail`` (raise a temporary or permanent error, optionally only the first
``times`` times). Strings in ``reply`` and ``call.arguments`` containing ``{{`` or ``{%`` are
templates for :func:`agentform.expressions.safe_environment`, with ``user``, ``tool_result``,
``context`` and ``match`` (``match[0]`` the whole match, ``match[1]``... the groups, named
groups by name).

This module owns :class:`Script`, :class:`Rule` and :func:`parse_script`; every problem is a
:class:`PermanentModelError` naming the file, the rule and what to fix. Used by
:mod:`agentform.runtime.models.scripted`.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml

from agentform.durations import parse_duration
from agentform.expressions import Template, safe_environment
from agentform.runtime.conversation import Message
from agentform.runtime.models.errors import PermanentModelError

__all__ = ["Call", "Context", "Failure", "Rule", "Script", "load_script", "parse_script"]

_RULE_KEYS = frozenset({"match", "reply", "call", "fail", "delay"})
_ACTIONS = ("reply", "call", "fail")


@dataclass(frozen=True, slots=True)
class Call:
    """One tool call a rule makes; string arguments may be templates."""

    tool: str
    arguments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Failure:
    """A simulated failure: what kind, the message, the wait it asks for, how often."""

    kind: Literal["temporary", "permanent"]
    message: str = "scripted failure"
    retry_after: float | None = None
    times: int | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: when it matches and what it does. ``number`` counts from 1, as people do."""

    number: int
    user: re.Pattern[str] | None = None
    tool_result: re.Pattern[str] | None = None
    context: re.Pattern[str] | None = None
    reply: str | None = None
    calls: tuple[Call, ...] = ()
    fail: Failure | None = None
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Context:
    """What templates see: the latest user message, the fresh tool results, the regex match,
    and everything said before the latest user message (history and memories in context)."""

    user: str
    tool_result: str
    match: Mapping[int | str, str]
    context: str = ""


@dataclass(frozen=True, slots=True)
class Script:
    """A parsed rule file; ``source`` names it in error messages."""

    source: str
    rules: tuple[Rule, ...]

    def matches(self, messages: Sequence[Message]) -> Iterator[tuple[Rule, Context]]:
        """Every rule that fits ``messages``, in order, with what its templates would see."""
        last_assistant = max(
            (i for i, m in enumerate(messages) if m.role == "assistant"), default=-1
        )
        last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
        user = messages[last_user].content if last_user >= 0 else ""
        # what came before the latest user message: instructions, earlier turns, memories
        earlier = "\n".join(m.content for m in messages[: max(last_user, 0)])
        # only results since the model last spoke: an old result must not trigger its rule again
        fresh = [m.content for m in messages[last_assistant + 1 :] if m.role == "tool"]
        tool_result = "\n".join(fresh)
        for rule in self.rules:
            found: re.Match[str] | None = None
            if rule.user is not None:
                found = rule.user.search(user)
                if found is None:
                    continue
            if rule.tool_result is not None:
                found = rule.tool_result.search(tool_result) if fresh else None
                if found is None:
                    continue
            if rule.context is not None:
                found = rule.context.search(earlier)
                if found is None:
                    continue
            yield rule, Context(user, tool_result, _groups(found), earlier)

    def render(self, rule: Rule, text: str, context: Context) -> str:
        """Render ``text`` of ``rule`` if it is a template; a failure names the rule."""
        if not _is_template(text):
            return text
        try:
            return _compile(text).render(
                user=context.user,
                tool_result=context.tool_result,
                match=context.match,
                context=context.context,
            )
        except Exception as error:  # any template failure is the rule author's to fix
            raise PermanentModelError(
                f"{self.source}: rule {rule.number}: template {text!r} failed: {error}; "
                "fix the rule file"
            ) from None


def load_script(path: Path) -> Script:
    """Read and parse the rule file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PermanentModelError(
            f"cannot read the rule file {path}: {error}; check the model's `script` path"
        ) from None
    return parse_script(text, str(path))


def parse_script(text: str, source: str) -> Script:
    """Parse rule-file ``text``; raise PermanentModelError naming ``source`` and the rule."""
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as error:
        raise PermanentModelError(f"{source}: not valid YAML: {error}") from None
    if not isinstance(data, Mapping) or set(data) != {"rules"}:
        raise PermanentModelError(
            f"{source}: a rule file must be a mapping with exactly one key, `rules`"
        )
    rules = data["rules"]
    if not isinstance(rules, list) or not rules:
        raise PermanentModelError(f"{source}: `rules` must be a non-empty list of rules")
    return Script(source, tuple(_rule(source, n, r) for n, r in enumerate(rules, start=1)))


def _rule(source: str, number: int, data: Any) -> Rule:
    def bad(problem: str) -> PermanentModelError:
        return PermanentModelError(f"{source}: rule {number}: {problem}; fix the rule file")

    if not isinstance(data, Mapping):
        raise bad("a rule must be a mapping with `reply`, `call` or `fail`")
    unknown = sorted(str(k) for k in data if k not in _RULE_KEYS)
    if unknown:
        raise bad(f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_RULE_KEYS))}")
    actions = [a for a in _ACTIONS if a in data]
    if len(actions) != 1:
        raise bad(f"a rule needs exactly one of reply, call, fail, not {actions or 'none'}")
    match = data.get("match") or {}
    if not isinstance(match, Mapping) or not set(match) <= {"user", "tool_result", "context"}:
        raise bad("`match` must be a mapping with `user`, `tool_result` and/or `context`")
    reply = data.get("reply")
    if "reply" in data and not isinstance(reply, str):
        raise bad("`reply` must be text")
    calls = _calls(data["call"], bad) if "call" in data else ()
    for template in [reply, *(s for c in calls for s in _strings(c.arguments))]:
        if isinstance(template, str) and _is_template(template):
            try:
                _compile(template)
            except Exception as error:  # a template that cannot compile is a rule-file error
                raise bad(f"template {template!r} does not compile: {error}") from None
    return Rule(
        number=number,
        user=_pattern(match.get("user"), "user", bad),
        tool_result=_pattern(match.get("tool_result"), "tool_result", bad),
        context=_pattern(match.get("context"), "context", bad),
        reply=reply,
        calls=calls,
        fail=_failure(data["fail"], bad) if "fail" in data else None,
        delay=_delay(data.get("delay"), bad),
    )


def _pattern(value: Any, key: str, bad: Any) -> re.Pattern[str] | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad(f"match.{key} must be a regular expression written as text")
    try:
        return re.compile(value)
    except (re.error, OverflowError, RecursionError, ValueError) as error:
        raise bad(f"match.{key} {value!r} is not a valid regular expression: {error}") from None


def _calls(value: Any, bad: Any) -> tuple[Call, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise bad("`call` must name a tool")
    calls = []
    for item in items:
        if not isinstance(item, Mapping) or not set(item) <= {"tool", "arguments"}:
            raise bad("`call` must be a mapping {tool: NAME, arguments: {...}} or a list of them")
        tool, arguments = item.get("tool"), item.get("arguments") or {}
        if not isinstance(tool, str) or not tool:
            raise bad("`call.tool` must be a tool name")
        if not isinstance(arguments, Mapping) or not all(isinstance(k, str) for k in arguments):
            raise bad("`call.arguments` must be a mapping of argument names to values")
        calls.append(Call(tool, dict(arguments)))
    return tuple(calls)


def _failure(value: Any, bad: Any) -> Failure:
    keys = {"kind", "message", "retry_after", "times"}
    if not isinstance(value, Mapping) or not set(value) <= keys:
        raise bad("`fail` must be a mapping with kind, and optionally message, retry_after, times")
    kind, message = value.get("kind"), value.get("message", "scripted failure")
    retry_after, times = value.get("retry_after"), value.get("times")
    if kind not in ("temporary", "permanent"):
        raise bad("`fail.kind` must be temporary or permanent")
    if not isinstance(message, str):
        raise bad("`fail.message` must be text")
    if retry_after is not None and (_not_number(retry_after) or retry_after < 0):
        raise bad("`fail.retry_after` must be a number of seconds")
    if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
        raise bad("`fail.times` must be a whole number, 1 or more")
    return Failure(kind, message, None if retry_after is None else float(retry_after), times)


def _delay(value: Any, bad: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, str):
        try:
            return parse_duration(value).total_seconds()
        except ValueError as error:
            raise bad(f"`delay`: {error}") from None
    if isinstance(value, timedelta):
        return value.total_seconds()
    if _not_number(value) or value < 0:
        raise bad("`delay` must be a duration such as 2s or 500ms")
    return float(value)


def _not_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return True
    return math.isnan(value) or math.isinf(value)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


@functools.lru_cache(maxsize=1024)
def _compile(text: str) -> Template:
    return safe_environment().from_string(text)


def _groups(found: re.Match[str] | None) -> dict[int | str, str]:
    if found is None:
        return {}
    groups: dict[int | str, str] = {0: found.group(0)}
    groups.update({i: g or "" for i, g in enumerate(found.groups(), start=1)})
    groups.update({k: v or "" for k, v in found.groupdict().items()})
    return groups
