"""The runtime's one retryable/permanent pair: every error says whether trying again can help,
and the local provider turns that answer, not a list of statuses, into its own pair."""

from __future__ import annotations

import pytest
from agentform_providers.local import LocalProvider

from agentform.provider import PermanentProviderError, TemporaryProviderError
from agentform.runtime.errors import EngineError, PermanentError, RuntimeFailure, TemporaryError
from agentform.runtime.host.client import EngineRequestError, EngineUnavailable
from agentform.runtime.models.errors import PermanentModelError, TemporaryModelError
from agentform.runtime.tools.mcp_client import ServerGoneError, ToolStartError


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (TemporaryModelError("429", retry_after=2.0), True),
        (PermanentModelError("bad key"), False),
        (ServerGoneError("gone"), True),
        (ToolStartError("no such command"), False),
        (EngineUnavailable("no engine"), True),
        (EngineError("unknown agent", 404), False),
        (EngineError("store down", 503), True),
        (EngineRequestError("bus down", 503), True),
        (EngineRequestError("refused", 409), False),
    ],
    ids=["model-429", "model-key", "server-gone", "tool-start", "no-engine", "engine-404",
         "engine-503", "request-503", "request-409"],
)  # fmt: skip
def test_every_runtime_error_says_whether_retrying_helps(
    error: RuntimeFailure, retryable: bool
) -> None:
    assert isinstance(error, RuntimeFailure)
    assert error.retryable is retryable
    if isinstance(error, TemporaryError | PermanentError):
        assert isinstance(error, TemporaryError) is retryable


def test_a_temporary_model_error_keeps_its_retry_after() -> None:
    assert TemporaryModelError("slow down", retry_after=3.5).retry_after == 3.5


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (EngineUnavailable("no engine"), TemporaryProviderError),
        (EngineRequestError("store down", 503), TemporaryProviderError),
        (EngineRequestError("bad values", 400), PermanentProviderError),
    ],
    ids=["unavailable", "503", "400"],
)
def test_the_local_provider_maps_the_runtime_answer(
    error: Exception, expected: type[Exception]
) -> None:
    provider = LocalProvider()

    def fail() -> None:
        raise error

    with pytest.raises(expected, match="doing it"):
        provider._call("doing it", fail)
