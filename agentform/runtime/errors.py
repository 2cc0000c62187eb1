"""The error every engine operation raises for a request it cannot do, with its HTTP status."""

from __future__ import annotations

__all__ = ["EngineError"]


class EngineError(Exception):
    """A request to the engine cannot be done; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
