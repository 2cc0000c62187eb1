"""The check that warns where the spec uses a setting the runtime does not enforce yet (AF219).

The settings are listed once, in :data:`agentform.contract.unenforced.UNENFORCED`; this module
knows where in the spec each one is used and reports every use, located at its key or value,
with the entry's message as the summary and the step that will enforce it as the hint. A use
that cannot mislead (no policy, an ``invoke:`` permission, ``sensitive: false``, the default
``stream_prefix``, a disabled schedule) is not reported. One pass over the spec, no patterns to
compile: it runs on every validate of specs with 10,000 agents.
"""

from __future__ import annotations

from agentform.contract.unenforced import (
    ACCESS_APPROVE,
    ACCESS_OTHER,
    CIRCUIT_BREAKER,
    DOCKER_CONFIG,
    KUBERNETES_CONFIG,
    POLICIES,
    SCHEDULES,
    SENSITIVE_VARIABLES,
    STREAM_PREFIX,
    Unenforced,
)
from agentform.spec.checks import CheckContext
from agentform.spec.models import Bus, Spec
from agentform.spec.sourcemap import Path

__all__ = ["CHECKS", "CODE", "uses"]

CODE = "AF219"
_SETTLE_ALL_PAST = 100
_DEFAULT_PREFIX = Bus.model_fields["stream_prefix"].default
_STUB_PROVIDERS = {"docker": DOCKER_CONFIG, "kubernetes": KUBERNETES_CONFIG}
_PERMISSION = {  # by verb; invoke: is enforced by each agent's A2A server
    "approve": ACCESS_APPROVE,
    "cancel": ACCESS_OTHER,
    "read": ACCESS_OTHER,
    "admin": ACCESS_OTHER,
}


Use = tuple[Unenforced, Path, bool]  # the entry, where it is used, located at the key


def uses(spec: Spec) -> list[Use]:
    """Every use of an unenforced setting in ``spec``, in the order the sections are read."""
    found: list[Use] = []
    for name, variable in spec.variables.items():
        if variable.sensitive:
            found.append((SENSITIVE_VARIABLES, ("variables", name, "sensitive"), True))
    stub = _STUB_PROVIDERS.get(spec.target.provider)
    if stub is not None:
        # the provider cannot deploy at all: say so even when it has no config to ignore
        if spec.target.config:
            found.append((stub, ("target", "config"), True))
        else:
            found.append((stub, ("target", "provider"), False))
    if spec.runtime.bus.stream_prefix != _DEFAULT_PREFIX:
        found.append((STREAM_PREFIX, ("runtime", "bus", "stream_prefix"), False))
    for name, agent in spec.agents.items():
        if agent.circuit_breaker is not None:
            found.append((CIRCUIT_BREAKER, ("agents", name, "circuit_breaker"), True))
    for name, policy in spec.policies.items():
        # a deny without when needs no run-time check: an agent listing a tool it always
        # denies is an error (AF208), and a worker is given only the tools its agent lists
        if policy.effect == "require_approval" or (policy.effect == "deny" and policy.when):
            found.append((POLICIES, ("policies", name), True))
    for role, permissions in spec.access.roles.items():
        for i, permission in enumerate(permissions):
            verb, sep, _ = permission.partition(":")
            entry = _PERMISSION.get(verb) if sep else None  # not verb:target is AF214's
            if entry is not None:
                found.append((entry, ("access", "roles", role, i), False))
    for name, schedule in spec.schedules.items():
        if schedule.enabled:
            found.append((SCHEDULES, ("schedules", name), True))
    return found


def check_unenforced(ctx: CheckContext) -> None:
    found = uses(ctx.spec)
    if len(found) > _SETTLE_ALL_PAST:
        # the positions of a large file are computed piece by piece on demand, and each piece
        # counts the lines before it: past a hundred or so lookups, one pass over it all wins
        ctx.smap.settle()
    for entry, path, at_key in found:
        ctx.warning(
            CODE,
            entry.message,
            path,
            at_key=at_key,
            hint=f"to be enforced by milestone 2, {entry.step}; once you have read this "
            f"warning, validate --strict --allow {CODE} accepts it",
        )


CHECKS = [check_unenforced]
