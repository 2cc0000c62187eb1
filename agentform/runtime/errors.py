"""The runtime's errors: one base, and one pair that says whether trying again can help.

Every error the runtime raises on purpose derives from :class:`RuntimeFailure` and answers one
question, :attr:`~RuntimeFailure.retryable`, so a caller (the worker, the model fallback chain,
the local provider deciding between a temporary and a permanent provider error) decides on one
attribute, never on a module's quirks::

    RuntimeFailure                    base: catch this to handle any runtime failure
    ├── TemporaryError                retrying later can help (``retry_after`` seconds, if known)
    │   ├── TemporaryModelError       429, 5xx, timeouts (agentform.runtime.models.errors)
    │   ├── ServerGoneError           an MCP server's connection ended (tools.mcp_client)
    │   └── EngineUnavailable         no engine answers (host.client)
    ├── PermanentError                the same request fails again until something is fixed
    │   ├── PermanentModelError       other 4xx, bad config, missing key (models.errors)
    │   └── ToolStartError            an MCP server cannot start (tools.mcp_client)
    └── EngineError                   a request the engine cannot do, with its HTTP status;
        ├── RateLimited               429: a rate limit is reached (``retry_after`` seconds)
        └── (client) EngineRequestError  retryable when the status is 502, 503 or 504

Owned here, at the bottom of the runtime's layers, so every package may raise them.
"""

from __future__ import annotations

__all__ = [
    "RETRYABLE_STATUS",
    "EngineError",
    "PermanentError",
    "RateLimited",
    "RuntimeFailure",
    "TemporaryError",
]

RETRYABLE_STATUS = frozenset({502, 503, 504})


class RuntimeFailure(Exception):
    """A runtime operation failed; :attr:`retryable` says whether trying again can help."""

    @property
    def retryable(self) -> bool:
        return False


class TemporaryError(RuntimeFailure):
    """Unavailable for now; ``retry_after`` says how long to wait, if the other side said so."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return True


class PermanentError(RuntimeFailure):
    """The same request will fail again; the message says what to fix."""


class EngineError(RuntimeFailure):
    """A request to the engine cannot be done; ``status`` is the HTTP status to answer with
    (502, 503 and 504 mean the engine's bus or store is unavailable for now: retryable)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE_STATUS


class RateLimited(EngineError):
    """A rate limit is reached: try again in ``retry_after`` seconds (HTTP 429, Retry-After)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, 429)
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return True
