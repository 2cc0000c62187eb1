"""Request bodies of the control API: JSON objects read once, checked field by field.

:func:`json_body` reads a request's body (``application/json``, at most :data:`MAX_BODY` bytes,
an object) and :func:`opt_str` one optional string field of it; what does not fit is a
:class:`BadRequest`, an :class:`~agentform.runtime.errors.EngineError` with status 400 whose
sentence says what to send instead. Used by :mod:`.control` and its route modules.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from agentform.runtime.errors import EngineError

__all__ = ["MAX_BODY", "BadRequest", "json_body", "opt_str"]

MAX_BODY = 1_000_000


class BadRequest(EngineError):
    """The request's body is not what the route takes (400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 400)


async def json_body(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise BadRequest("send a JSON body with content-type application/json")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise BadRequest(f"the body is larger than {MAX_BODY:,} bytes")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def opt_str(body: dict[str, Any], key: str, what: str | None = None) -> str | None:
    """``body[key]``: absent (None), or a non-empty string of at most 200 characters."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 200:
        where = f"{what}: " if what else ""
        raise BadRequest(f"{where}{key!r} must be a non-empty string of at most 200 characters")
    return value
