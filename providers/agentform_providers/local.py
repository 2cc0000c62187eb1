"""The ``local`` provider: runs agents as processes on this machine, through the local engine.

Registered through the ``agentform.providers`` entry point ``local``, like any third-party
provider. Every resource is handed to the project's local engine (started detached when absent;
see :mod:`agentform.runtime.host.engine`), which runs the embedded NATS, the runtime store and the
agents' workers. ``read`` and ``list`` report what the engine really runs: an agent with fewer
live workers than its ``replicas`` reads back with the smaller number, so ``plan`` shows the drift
and ``apply`` restores it. Without a running engine nothing runs, so nothing is observed; reading
never starts an engine.

Errors: an engine that does not answer, or a bus or store that is unavailable, is a
:class:`~agentform.provider.TemporaryProviderError` (apply retries); a refused request is a
:class:`~agentform.provider.PermanentProviderError` with the engine's sentence.
"""

from __future__ import annotations

import builtins
import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from agentform.addresses import Address
from agentform.contract import sensitive
from agentform.provider import (
    ObservedResource,
    PermanentProviderError,
    ProviderContext,
    ProviderPlan,
    ResourceValue,
    TemporaryProviderError,
    diff_values,
)
from agentform.runtime.host.client import (
    EngineClient,
    EngineRequestError,
    EngineUnavailable,
    engine_dir,
    runtime_project,
)
from agentform.secrets import FIELD, values_of

__all__ = ["LocalProvider"]

log = logging.getLogger("agentform.provider.local")

T = TypeVar("T")


class LocalProvider:
    """Provider ``local``."""

    name = "local"
    replace_fields: dict[str, list[str]] = {}  # noqa: RUF012 - everything rolls in place

    def __init__(self, context: ProviderContext | None = None, **config: Any) -> None:
        if config:
            unknown = ", ".join(sorted(config))
            raise TypeError(f"the local provider takes no settings (got {unknown})")
        self.context = context or ProviderContext(project="default", base_dir=str(Path.cwd()))
        self.base_dir = Path(self.context.base_dir).resolve()
        self.client = EngineClient(engine_dir(self.base_dir, self.context.environment))
        self._starting = threading.Lock()
        self._warming = False  # warm_up started the engine: it runs nothing of ours yet
        self._up = False  # an engine answered this run: changes go straight to it
        self._run: dict[str, str] = {}  # who runs what: sent with each change, for the audit

    def begin_run(self, run: Mapping[str, str]) -> None:
        """What the coming changes are part of (operation, serial, user, commit): the engine
        records it with each change in its audit log."""
        self._run = {f"x-agentform-{key}": str(value)[:200] for key, value in run.items()}
        self._warming = False  # from here on, read what the engine says it runs

    def warm_up(self) -> None:
        """An apply that will carry out its plan is about to make it: if no engine runs, start
        one now, beside the planning (its start, about a second, is most of a first apply's
        wait). Until the changes begin, the provider reads it as running nothing, as it read
        the stopped engine; the first change waits for the start to finish."""
        if self.client.running():
            return
        self._warming = True
        self._starting.acquire()  # released when the start is over: put() waits for it

        def start() -> None:
            try:
                self.client.start(project=self._project(), base_dir=self.base_dir)
            except (EngineUnavailable, EngineRequestError, OSError) as exc:
                # not an error yet: the first change starts it again and says why it would not
                log.info("the engine did not start while planning (%s); retried later", exc)
            finally:
                self._starting.release()

        threading.Thread(target=start, name="agentform-engine-start", daemon=True).start()

    def _project(self) -> str:
        return runtime_project(self.context.project, self.context.environment)

    def _call(self, what: str, action: Callable[[], T]) -> T:
        try:
            return action()
        except (EngineUnavailable, EngineRequestError) as exc:
            # the runtime's one rule for whether trying again can help
            if exc.retryable:
                raise TemporaryProviderError(f"{what}: {exc}", delay=1.0) from exc
            raise PermanentProviderError(f"{what}: {exc}") from exc

    def _observed(self) -> dict[str, Any]:
        if self._warming or not self.client.running():
            return {}
        found = self._call("reading what runs", lambda: self.client.request("GET", "/v1/resources"))
        return found if isinstance(found, dict) else {}

    def read(self, address: str, id: str) -> ObservedResource | None:
        values = self._observed().get(address)
        return ObservedResource(address, address, values) if isinstance(values, dict) else None

    def list(self, kind: str) -> builtins.list[ObservedResource]:
        return [
            ObservedResource(address, address, values)
            for address, values in sorted(self._observed().items())
            if Address.kind_of(address) == kind and isinstance(values, dict)
        ]

    def plan(self, desired: ResourceValue, observed: ObservedResource | None) -> ProviderPlan:
        return diff_values(desired, observed)

    def _put(self, desired: ResourceValue) -> ObservedResource:
        # the values of the secrets this resource references travel to the engine (loopback,
        # token) and stay in its memory; state and the engine's files hold fingerprints only.
        # So do the values of its sensitive variables, for its workers' environment.
        names = dict(desired.values.get(FIELD) or {})
        secrets = values_of(names, os.environ)
        given = self.context.sensitive
        for name in desired.values.get(sensitive.FIELD) or {}:
            if name in given:
                secrets[sensitive.env_name(name)] = given[name]

        def put() -> Any:
            self._ensure_engine()
            try:
                return self.client.request(
                    "PUT",
                    f"/v1/resources/{desired.address}",
                    body={"values": dict(desired.values), "secrets": secrets},
                    timeout=120,
                    headers=self._run,
                )
            except EngineUnavailable:
                self._up = False  # it stopped: the retry starts it again
                raise

        values = self._call(f"deploying {desired.address}", put)
        return ObservedResource(desired.address, desired.address, dict(values or desired.values))

    def _ensure_engine(self) -> None:
        """Start the engine unless one answered this run already (asking it costs a status
        request, and under the lock it made the changes of a parallel apply wait in line)."""
        if self._up:
            return
        with self._starting:  # apply creates in parallel: start one engine, not ten
            if not self._up:
                self.client.start(project=self._project(), base_dir=self.base_dir)
                self._up = True

    def create(self, desired: ResourceValue) -> ObservedResource:
        return self._put(desired)

    def update(self, desired: ResourceValue, observed: ObservedResource) -> ObservedResource:
        return self._put(desired)

    def delete(self, observed: ObservedResource) -> None:
        if not self.client.running():
            return  # no engine, nothing runs: already gone
        pid = self.client.pid
        self._call(
            f"deleting {observed.address}",
            lambda: self.client.request(
                "DELETE", f"/v1/resources/{observed.address}", timeout=120, headers=self._run
            ),
        )
        # the last resource: the engine stops its workers and NATS and exits; destroy is done
        # when nothing is left running, not a moment before
        last = pid is not None and self.client.pid is None
        if last:
            self._up = False
        if last and pid is not None and not self.client.wait_gone(pid, timeout=60):
            raise TemporaryProviderError(
                f"the engine (pid {pid}) is still stopping; run destroy again", delay=2.0
            )

    def import_(self, kind: str, id: str) -> ObservedResource:
        address = id if "." in id else f"{kind}.{id}"
        found = self.read(address, address)
        if found is None:
            raise PermanentProviderError(
                f"the local engine runs no {address}; 'agentform engine status' lists what runs"
            )
        return found
