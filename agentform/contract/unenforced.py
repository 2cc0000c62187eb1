"""What the spec accepts but the runtime does not enforce yet: the one explicit list.

Owns :class:`Unenforced` and :data:`UNENFORCED`. Every setting here is validated (its shape, its
references) but no runtime code acts on it in this version, so a user who declares it must be
told: ``agentform validate`` warns at each use (AF219, :mod:`agentform.spec.checks.enforcement`)
and ``docs/diagnostics.md`` lists the entries. When a milestone step enforces a setting, that
change removes its entry here (declared means enforced). Pure data: imports nothing from the
spec, the runtime or the CLI.

Left out because they are enforced: every policy (allow, deny and require_approval, with or
without ``when``: the workers' policy decision point decides each tool call, and a held call
waits for ``agentform approvals``), ``default_effect``, ``invoke:`` permissions (an agent's A2A
server admits only the subjects whose roles grant it), ``cancel:``, every ``read:`` (tasks,
traces, memory, audit) and ``admin:`` (on the agents' A2A servers and the engine's control API,
for a subject's token), ``approve:`` permissions (a subject
whose roles grant it may decide the calls that policy holds, with a message to the waiting task
over A2A; the operator decides any with ``agentform approvals``), the agents' ``limits`` and
``circuit_breaker``, ``schedules`` (fired by the engine that holds the scheduler lease,
:mod:`agentform.runtime.scheduler`) and ``sensitive: true`` on variables (kept out of plans,
state and records: :mod:`agentform.contract.sensitive`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DOCKER_CONFIG",
    "KUBERNETES_CONFIG",
    "UNENFORCED",
    "Unenforced",
]


@dataclass(frozen=True, slots=True)
class Unenforced:
    """A setting the spec accepts and the runtime does not act on yet.

    ``field`` is a dotted path over the spec, ``*`` standing for a name (``agents.*.circuit_
    breaker``); ``when`` narrows which uses count (empty: any use); ``message`` says what does
    not happen; ``step`` names the milestone-2 step that will enforce it.
    """

    field: str
    message: str
    step: str
    when: str = ""


STEP_POLICIES = "step 2: policies and approvals"
STEP_CLOSED_DOORS = "step 3: closed doors"
STEP_RUNAWAY = "step 4: runaway control and schedules"
STEP_DOCKER = "step 6: docker provider"
STEP_KUBERNETES = "step 7: kubernetes provider"

DOCKER_CONFIG = Unenforced(
    "target.config",
    "the docker provider is a placeholder in this version: its target.config is not read, "
    "and plan and apply refuse the target until the provider exists",
    STEP_DOCKER,
    when="target.provider: docker",
)
KUBERNETES_CONFIG = Unenforced(
    "target.config",
    "the kubernetes provider is a placeholder in this version: its target.config is not "
    "read, and plan and apply refuse the target until the provider exists",
    STEP_KUBERNETES,
    when="target.provider: kubernetes",
)

UNENFORCED: tuple[Unenforced, ...] = (
    DOCKER_CONFIG,
    KUBERNETES_CONFIG,
)
