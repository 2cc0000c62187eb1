"""The recorded state format: what one serial of state holds, as it crosses the byte boundary.

This module owns :class:`StateSnapshot` and :class:`RecordedResource` (the JSON body stored for
every serial), the rules for making the next serial (:func:`empty`, :meth:`StateSnapshot.next`),
parsing a stored body back (:func:`parse_body`, which raises :class:`StateCorrupt` instead of
guessing), and :class:`StateError`, the root of the state
errors. It does no I/O. Called by :mod:`agentform.state.store` (which persists snapshots) and by
the plan/apply workflow (which reads recorded values and produces the next snapshot).

Lineage and serial follow Terraform: a lineage (uuid4) is minted once when a state is created and
never changes; every write produces serial + 1 with the same lineage. Two snapshots with
different lineages are different states, never versions of one another.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "FORMAT_VERSION",
    "ROW_LAYOUT",
    "RecordedResource",
    "StateCorrupt",
    "StateError",
    "StateSnapshot",
    "empty",
    "parse_body",
]

FORMAT_VERSION = 1  # the only ``version`` this code reads and writes


class StateError(Exception):
    """Root of every state error; the message is a sentence saying what to do."""


class StateCorrupt(StateError):
    """A stored body could not be read back; nothing was changed."""

    def __init__(self, serial: int, problem: str) -> None:
        self.serial = serial
        super().__init__(
            f"state serial {serial} is corrupt ({problem}); nothing was changed. "
            'Run "agentform state history" to see earlier serials and roll back to the last '
            "good one; retrying will not help."
        )


class RecordedResource(BaseModel):
    """What apply recorded about one resource: its identity and the values it was made with.

    ``values`` hold fingerprints (see :func:`fingerprint`) where the spec had secrets, never the
    secret values themselves.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    name: str
    provider: str
    id: str | None = None
    values: dict[str, Any] = Field(default_factory=dict)


ROW_LAYOUT = 2


class StateSnapshot(BaseModel):
    """One serial of state for one (project, environment)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # 1: the resources are in this body; 2 (ROW_LAYOUT, only in stored bodies): they are in the
    # store's per-resource rows. Snapshots in memory are always 1.
    version: Literal[1, 2] = 1
    lineage: str
    serial: int = Field(ge=0)
    project: str
    environment: str
    resources: dict[str, RecordedResource] = Field(default_factory=dict)
    spec_revision: str = ""
    git_commit: str | None = None

    def next(
        self,
        resources: dict[str, RecordedResource] | None = None,
        *,
        spec_revision: str | None = None,
        git_commit: str | None = None,
    ) -> StateSnapshot:
        """The snapshot that follows this one: serial + 1, same lineage, given changes applied.

        Arguments left as ``None`` keep this snapshot's value.
        """
        return self.model_copy(
            update={
                "serial": self.serial + 1,
                "resources": dict(self.resources if resources is None else resources),
                "spec_revision": self.spec_revision if spec_revision is None else spec_revision,
                "git_commit": self.git_commit if git_commit is None else git_commit,
            }
        )

    def summary(self) -> str:
        """One line for ``history``: resource count, spec revision and commit."""
        count = len(self.resources)
        parts = [f"{count} resource{'s' if count != 1 else ''}"]
        if self.spec_revision:
            parts.append(f"spec {self.spec_revision[:12]}")
        if self.git_commit:
            parts.append(f"commit {self.git_commit[:12]}")
        return ", ".join(parts)


def empty(project: str, environment: str) -> StateSnapshot:
    """A new state: fresh lineage, serial 0, no resources. Serial 0 is never stored."""
    return StateSnapshot(
        lineage=str(uuid.uuid4()), serial=0, project=project, environment=environment
    )


def parse_body(body: str, serial: int) -> StateSnapshot:
    """Parse a stored body; raise :class:`StateCorrupt` naming ``serial`` if it is not valid."""
    try:
        snapshot = StateSnapshot.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise StateCorrupt(serial, f"{where}: {first['msg']}") from exc
    if snapshot.serial != serial:
        raise StateCorrupt(serial, f"the body claims serial {snapshot.serial}")
    return snapshot
