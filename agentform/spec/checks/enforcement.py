"""The check that warns where the spec uses a setting the runtime does not enforce yet (AF219).

The settings are listed once, in :data:`agentform.contract.unenforced.UNENFORCED`; this module
knows where in the spec each one is used and reports the uses, located at their key or value,
with the entry's message as the summary and the step that will enforce it as the hint: the first
:data:`SHOWN_PER_SETTING` uses of a setting one by one, then one warning that counts the rest. One
pass over the spec, no patterns to compile: it runs on every validate of specs with 10,000
agents.
"""

from __future__ import annotations

from agentform.contract.unenforced import (
    DOCKER_CONFIG,
    KUBERNETES_CONFIG,
    Unenforced,
)
from agentform.spec.checks import CheckContext
from agentform.spec.models import Spec
from agentform.spec.sourcemap import Path

__all__ = ["CHECKS", "CODE", "SHOWN_PER_SETTING", "uses"]

CODE = "AF219"
SHOWN_PER_SETTING = 10  # uses of one setting located one by one; past it, one count
_STUB_PROVIDERS = {"docker": DOCKER_CONFIG, "kubernetes": KUBERNETES_CONFIG}


Use = tuple[Unenforced, Path, bool]  # the entry, where it is used, located at the key


def uses(spec: Spec) -> list[Use]:
    """Every use of an unenforced setting in ``spec``, in the order the sections are read."""
    found: list[Use] = []
    stub = _STUB_PROVIDERS.get(spec.target.provider)
    if stub is not None:
        # the provider cannot deploy at all: say so even when it has no config to ignore
        if spec.target.config:
            found.append((stub, ("target", "config"), True))
        else:
            found.append((stub, ("target", "provider"), False))
    return found


def check_unenforced(ctx: CheckContext) -> None:
    found = uses(ctx.spec)
    by_entry: dict[Unenforced, list[Use]] = {}
    for use in found:
        by_entry.setdefault(use[0], []).append(use)
    for entry, entry_uses in by_entry.items():
        hint = (
            f"to be enforced by milestone 2, {entry.step}; once you have read this warning,"
            f" validate --strict --allow {CODE} accepts it"
        )
        # a spec with thousands of circuit breakers gets the first few located and one count,
        # not thousands of identical lines that drown every other problem (and cost a second
        # of locating on a 10,000-agent spec)
        for _, path, at_key in entry_uses[:SHOWN_PER_SETTING]:
            ctx.warning(CODE, entry.message, path, at_key=at_key, hint=hint)
        more = len(entry_uses) - SHOWN_PER_SETTING
        if more > 0:
            _, path, at_key = entry_uses[SHOWN_PER_SETTING]
            ctx.warning(
                CODE,
                f"{more} more use{'s' if more != 1 else ''} of {entry.field} from here on "
                f"(not shown one by one): {entry.message}",
                path,
                at_key=at_key,
                hint=hint,
            )


CHECKS = [check_unenforced]
