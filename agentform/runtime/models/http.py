"""Posting JSON to a model provider and turning every way it can fail into a :class:`ModelError`.

Owns the status mapping both HTTP adapters share: 408, 409, 429, 5xx (529 included) are
temporary, with ``Retry-After`` (seconds or an HTTP date, also ``retry-after-ms``) read and
capped at :data:`MAX_RETRY_AFTER`; other 4xx are permanent and carry the API's own error message;
timeouts and refused connections are temporary; a body that is not JSON is permanent. Called by
:mod:`~agentform.runtime.models.openai` and :mod:`~agentform.runtime.models.anthropic`; the only
module here that touches ``httpx2``.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from typing import Any

import httpx2

from agentform.runtime.models.errors import PermanentModelError, TemporaryModelError

__all__ = ["MAX_RETRY_AFTER", "new_client", "post_json", "retry_after"]

MAX_RETRY_AFTER = 60.0
_TEMPORARY = frozenset({408, 409, 429})
_REQUEST_FAULT = frozenset({400, 413, 422})


def new_client(timeout: float) -> httpx2.AsyncClient:
    """A client for one model; the per-call deadline is enforced above it, this is a backstop."""
    return httpx2.AsyncClient(timeout=httpx2.Timeout(timeout, connect=min(timeout, 10.0)))


async def post_json(
    client: httpx2.AsyncClient,
    url: str,
    *,
    headers: Mapping[str, str],
    body: Mapping[str, Any],
    provider: str,
) -> Any:
    """POST ``body`` and return the decoded JSON answer, or raise the matching ModelError."""
    try:
        response = await client.post(url, headers=dict(headers), json=dict(body))
    except httpx2.TimeoutException:
        raise TemporaryModelError(
            f"{provider} at {url} did not answer in time; retrying later may help"
        ) from None
    except (httpx2.InvalidURL, httpx2.UnsupportedProtocol) as error:
        raise PermanentModelError(
            f"{provider} URL {url!r} is not usable ({error}); fix base_url in the spec"
        ) from None
    except httpx2.TransportError as error:
        raise TemporaryModelError(
            f"could not reach {provider} at {url} ({type(error).__name__}: {error}); "
            "retrying later may help"
        ) from None
    status = response.status_code
    if status >= 400:
        message = _error_message(response)
        if status in _TEMPORARY or status >= 500:
            raise TemporaryModelError(
                f"{provider} answered {status}: {message}; retrying later may help",
                retry_after=retry_after(response.headers),
            )
        raise PermanentModelError(
            f"{provider} refused the request with {status}: {message}",
            request_fault=status in _REQUEST_FAULT,
        )
    try:
        return response.json()
    except ValueError:
        raise PermanentModelError(
            f"malformed response from {provider} at {url}: the body is not JSON "
            f"({_snippet(response.text)})"
        ) from None


def retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait, capped at MAX_RETRY_AFTER; None if it did not say."""
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return _cap(float(millis) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return _cap(float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return _cap(when - (time.time() if now is None else now))


def _cap(seconds: float) -> float | None:
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _error_message(response: httpx2.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return _snippet(response.text) or response.reason_phrase or "no details"
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return _snippet(response.text)


def _snippet(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."
