"""The one regular-expression engine for patterns users write into a spec: RE2, linear in time.

A pattern in a content filter runs on every message, answer and tool call of the agents that
use it, on text that callers and tools control. Python's ``re`` backtracks: ``(a+)+$`` over
thirty ``a``s and a ``b`` takes minutes, so one careless pattern (or one crafted input) stops an
agent. RE2 (the ``google-re2`` package) guarantees time linear in the text and refuses the
features that need backtracking (back-references, look-around). This module is the only
importer of ``re2`` (an import-linter contract says so): the spec's checks compile patterns here
to report a bad one with its location, and the runtime compiles them here to use them, so both
agree on what a pattern means. Pure; used by :mod:`agentform.spec.checks.filters` and
:mod:`agentform.runtime.policy.filters`.
"""

from __future__ import annotations

import functools
from typing import Any

import re2

__all__ = ["MAX_PATTERN_LENGTH", "PatternError", "compile_pattern"]

MAX_PATTERN_LENGTH = 500
# RE2 refuses a pattern whose compiled program would exceed this (the default is 8 MiB):
# '[a-z]{1000}{1000}' is short to write and huge to build
_MAX_MEMORY = 8 << 20


class PatternError(ValueError):
    """A pattern RE2 cannot use: a syntax error, a feature it does not have, too long."""


@functools.lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> Any:
    """``pattern`` compiled by RE2 (it has ``search``, ``sub``, ``groupindex`` like ``re``'s);
    :class:`PatternError` saying why not. Compiled once per process for each pattern."""
    if not pattern:
        raise PatternError("the pattern is empty")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(
            f"the pattern is {len(pattern)} characters long, over the limit of {MAX_PATTERN_LENGTH}"
        )
    options = re2.Options()
    options.max_mem = _MAX_MEMORY
    options.log_errors = False  # the error is raised to the caller, not printed to stderr
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = _text(exc.args[0] if exc.args else "") or "it does not parse"
        if any(mark in pattern for mark in ("(?=", "(?!", "(?<=", "(?<!")) or _backref(pattern):
            reason += " (RE2 has no look-around or back-references: they can take exponential time)"
        raise PatternError(reason) from None


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _backref(pattern: str) -> bool:
    return any(pattern[i] == "\\" and pattern[i + 1 : i + 2].isdigit() for i in range(len(pattern)))
