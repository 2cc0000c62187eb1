"""The query parameters of the control API's routes: read, checked, or refused with the reason.

Owns :class:`Query`. A route names the parameters it takes; anything else, a name given twice,
a number that is not a whole number in range, a value not among the known ones, or a text
longer than :data:`MAX_TEXT` is refused with a 400 that says which parameter and why
(:class:`QueryError`, an :class:`~agentform.runtime.errors.EngineError`, so the control API's
guard answers it like any other refusal). An empty value counts as not given. Used by
:mod:`.control` and :mod:`.memory_routes`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from starlette.datastructures import QueryParams

from agentform.runtime.errors import EngineError

__all__ = ["MAX_TEXT", "Query", "QueryError"]

MAX_TEXT = 200  # characters of a name, id or scope given as a filter
# ASCII digits only: int() also takes '+5', ' 5', '1_0' and other scripts' digits
_WHOLE = re.compile(r"[0-9]{1,18}")


class QueryError(EngineError):
    """A query parameter the route refuses; the message names it and says what it takes."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 400)


class Query:
    """The query of one request to a route that takes the parameters ``allowed``."""

    def __init__(self, params: QueryParams, *allowed: str) -> None:
        names = [name for name, _ in params.multi_items()]
        unknown = sorted({n for n in names if n not in allowed})
        if unknown:
            takes = ", ".join(allowed) if allowed else "none"
            raise QueryError(
                f"unknown query parameter {_shown(unknown[0])}; this route takes: {takes}"
            )
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise QueryError(f"query parameter {repeated[0]!r} is given more than once")
        self._values: Mapping[str, str] = {k: v for k, v in params.items() if v != ""}

    def number(self, name: str, *, default: int, low: int, high: int) -> int:
        """A whole number from ``low`` to ``high``, or ``default`` when not given."""
        text = self._values.get(name)
        if text is None:
            return default
        if not _WHOLE.fullmatch(text) or not low <= int(text) <= high:
            raise QueryError(
                f"{name} must be a whole number from {low:,} to {high:,}, not {_shown(text)}"
            )
        return int(text)

    def text(self, name: str, *, longest: int = MAX_TEXT) -> str | None:
        """A text of at most ``longest`` characters, or ``None`` when not given."""
        text = self._values.get(name)
        if text is not None and len(text) > longest:
            raise QueryError(f"{name} must be at most {longest} characters, not {len(text):,}")
        return text

    def choice(self, name: str, choices: Collection[str]) -> str | None:
        """One of ``choices``, or ``None`` when not given."""
        text = self._values.get(name)
        if text is not None and text not in choices:
            raise QueryError(f"{name} must be one of {', '.join(choices)}, not {_shown(text)}")
        return text


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:39] + "…")
