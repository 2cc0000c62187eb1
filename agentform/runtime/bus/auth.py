"""Who may do what on the bus: NATS users and their permissions, generated from the spec.

The embedded ``nats-server`` runs with authorization (:class:`~.server.NatsServer` ``config``):
no connection without a user and password, and each user may publish and subscribe only to the
subjects its role needs. This module owns those users and the server configuration block:

* ``engine``: everything (it lays out the stream, consumers and buckets, publishes tasks,
  watches events and advisories);
* ``client``: programs that publish tasks straight to the bus, on the inbound subjects
  (``<prefix>.<project>.inbound.<agent>``, never the ``tasks`` subjects the runtime itself
  uses), and follow their events; each such message must carry a live bearer token whose
  subject may invoke the agent (the worker checks it before recording the task);
* ``agent-<name>``, one per agent, shared by its replicas: fetch and acknowledge its own
  consumer's messages only, publish tasks only to the agents it delegates to (and to those that
  delegate to it: a child that ends resumes its parent), announce steps on the events subjects,
  heartbeat under its own keys of the health bucket, take and renew tool locks in the leases
  bucket. Anything else (another agent's tasks, a delegation the spec does not declare) is
  refused by the server itself.

Passwords are random per engine start, kept in the engine's directory (mode 0600) and handed to
workers in their environment, never in state, plans or logs. Every client uses its own inbox
prefix (``_INBOX_<user>``), so no user can read another's replies. :func:`permissions_block`
renders the same permissions for an operator who runs their own NATS (``agentform bus
permissions``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CLIENT",
    "ENGINE",
    "BusUser",
    "BusUsers",
    "agent_user",
    "inbox_prefix",
    "permissions_block",
    "server_config",
]

ENGINE = "engine"
CLIENT = "client"


@dataclass(frozen=True, slots=True)
class BusUser:
    """A NATS user: ``publish``/``subscribe`` None means every subject."""

    name: str
    password: str
    publish: tuple[str, ...] | None = None
    subscribe: tuple[str, ...] | None = None

    def to_config(self) -> dict[str, Any]:
        out: dict[str, Any] = {"user": self.name, "password": self.password}
        permissions: dict[str, Any] = {}
        if self.publish is not None:
            permissions["publish"] = {"allow": list(self.publish)}
        if self.subscribe is not None:
            permissions["subscribe"] = {"allow": list(self.subscribe)}
        if permissions:
            out["permissions"] = permissions
        return out


def inbox_prefix(user: str) -> str:
    """The reply subjects' prefix of ``user``'s connections (only it may subscribe there)."""
    return f"_INBOX_{user.replace('.', '_')}"


def agent_user(agent: str) -> str:
    return f"agent-{agent}"


def _kv(bucket: str, keys: str) -> list[str]:
    """Publish subjects for binding ``bucket`` and reading/writing ``keys`` in it."""
    stream = f"KV_{bucket}"
    return [
        f"$JS.API.STREAM.INFO.{stream}",
        f"$JS.API.DIRECT.GET.{stream}.$KV.{bucket}.{keys}",
        f"$JS.API.STREAM.MSG.GET.{stream}",
        f"$KV.{bucket}.{keys}",
    ]


def _worker_permissions(
    prefix: str,
    project: str,
    stream: str,
    health: str,
    leases: str,
    agent: str,
    reaches: Iterable[str],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    base = f"{prefix}.{project}"
    consumer = f"agent_{agent}"
    publish = [
        *(f"{base}.tasks.{other}" for other in sorted(set(reaches))),
        f"{base}.events.>",
        f"$JS.API.CONSUMER.INFO.{stream}.{consumer}",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}",
        f"$JS.ACK.{stream}.{consumer}.>",
        *_kv(health, f"{agent}.>"),
        *_kv(leases, ">"),
    ]
    subscribe = [f"{inbox_prefix(agent_user(agent))}.>"]
    return tuple(publish), tuple(subscribe)


@dataclass
class BusUsers:
    """The users of one project's embedded server, with fresh passwords."""

    prefix: str
    project: str
    users: dict[str, BusUser] = field(default_factory=dict)

    @property
    def _names(self) -> tuple[str, str, str]:
        from agentform.runtime.bus import BusLayout

        layout = BusLayout(project=self.project, prefix=self.prefix)
        return layout.stream, layout.health, layout.leases

    @classmethod
    def generate(cls, prefix: str, project: str, reaches: Mapping[str, Iterable[str]]) -> BusUsers:
        """Users for the engine, clients and every agent of ``reaches`` (agent -> the agents
        whose tasks it may publish)."""
        made = cls(prefix, project)
        made.users[ENGINE] = BusUser(ENGINE, _password())
        base = f"{prefix}.{project}"
        made.users[CLIENT] = BusUser(
            CLIENT,
            _password(),
            publish=(f"{base}.inbound.*",),
            subscribe=(f"{inbox_prefix(CLIENT)}.>", f"{base}.events.>"),
        )
        made.update(reaches)
        return made

    def update(self, reaches: Mapping[str, Iterable[str]]) -> bool:
        """Make the agents' users match ``reaches`` (passwords kept for agents already there);
        True when anything changed (the server must reload)."""
        stream, health, leases = self._names
        wanted: dict[str, BusUser] = {}
        for agent, others in reaches.items():
            name = agent_user(agent)
            old = self.users.get(name)
            publish, subscribe = _worker_permissions(
                self.prefix, self.project, stream, health, leases, agent, others
            )
            wanted[name] = BusUser(
                name, old.password if old is not None else _password(), publish, subscribe
            )
        kept = {n: u for n, u in self.users.items() if not n.startswith("agent-")}
        new = {**kept, **wanted}
        changed = new != self.users
        self.users = new
        return changed

    def credentials(self, name: str) -> tuple[str, str]:
        user = self.users[name]
        return user.name, user.password

    def to_file(self) -> str:
        """The users and passwords as JSON, for the engine's directory (mode 0600)."""
        return json.dumps(
            {"prefix": self.prefix, "project": self.project,
             "users": {n: u.password for n, u in self.users.items()}},
            indent=1,
        )  # fmt: skip


def server_config(users: BusUsers) -> str:
    """The ``nats-server`` configuration block that enforces ``users`` (JSON is valid NATS
    configuration syntax)."""
    return "authorization " + json.dumps(
        {"users": [u.to_config() for _, u in sorted(users.users.items())]}, indent=2
    )


def permissions_block(prefix: str, project: str, reaches: Mapping[str, Iterable[str]]) -> str:
    """What an operator running their own NATS must grant, with placeholders for passwords."""
    users = BusUsers.generate(prefix, project, reaches)
    for name, user in list(users.users.items()):
        users.users[name] = BusUser(
            user.name, f"<password of {name}>", user.publish, user.subscribe
        )
    return server_config(users)


def _password() -> str:
    return secrets.token_urlsafe(24)
