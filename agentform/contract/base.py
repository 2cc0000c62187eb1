"""What every contract value is built on: :class:`Frozen` (unknown keys refused, immutable), and
the two field types the resource kinds share. Pure: imports pydantic only."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Frozen", "Name", "PositiveInt"]

Name = str  # validated by the checks (AF202) so every bad name is reported with its location
PositiveInt = Annotated[int, Field(ge=1)]


class Frozen(BaseModel):
    """Every spec object and contract value: unknown keys refused, immutable once built."""

    model_config = ConfigDict(extra="forbid", frozen=True)
