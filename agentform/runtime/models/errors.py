"""Why a model call failed, and whether trying again can help.

The runtime's one retryable/permanent pair (:mod:`agentform.runtime.errors`), specialised for
models. Owned here so every adapter raises the same three classes and the worker decides on one
attribute, not on provider quirks::

    ModelError                     base: catch this to handle any model failure
    ├── TemporaryModelError        429, 408, 409, 5xx, 529, timeouts, connection refused;
    │                              retrying later can help (``retry_after`` seconds, if known)
    └── PermanentModelError        other 4xx, malformed answers, bad config, missing key;
                                   the same call will fail again

A permanent error is *about the request* (``request_fault=True``: 400, 413, 422; the
conversation itself was refused, so another model given the same conversation would most likely
refuse it too) or *about the endpoint* (everything else: bad key, unknown model, wrong URL,
malformed answers; another model can help). The fallback chain in
:mod:`agentform.runtime.models.fallback` steps in for temporary errors and endpoint errors only.
Raised by the adapters (:mod:`~agentform.runtime.models.openai`,
:mod:`~agentform.runtime.models.anthropic`, :mod:`~agentform.runtime.models.scripted`), the HTTP
plumbing (:mod:`~agentform.runtime.models.http`) and :func:`~agentform.runtime.models.build_model`.
"""

from __future__ import annotations

from agentform.runtime.errors import PermanentError, RuntimeFailure, TemporaryError

__all__ = ["ModelError", "PermanentModelError", "TemporaryModelError"]


class ModelError(RuntimeFailure):
    """A model call failed; see the subclass for whether retrying helps."""


class TemporaryModelError(ModelError, TemporaryError):
    """The model is unavailable for now; ``retry_after`` says how long to wait, if it said so."""


class PermanentModelError(ModelError, PermanentError):
    """The same call will fail again; ``request_fault`` says whether the request is to blame."""

    def __init__(self, message: str, *, request_fault: bool = False) -> None:
        super().__init__(message)
        self.request_fault = request_fault
