"""The agent card: what an agent's A2A server says about itself, built from its contract value.

Owns :func:`agent_card`, which turns an agent's :class:`~agentform.contract.AgentValue` (the
spec's agent plus ``policies`` and ``invokers``) into the SDK's ``AgentCard``:
name, description, version (the start of the agent's configuration hash, so a changed agent is a
new version), skills (an agent without any gets one: itself; a skill without tags is tagged
with its id), streaming, text in and out, the
JSON-RPC and HTTP+JSON interfaces at the server's 127.0.0.1 address, and the HTTP bearer scheme
every request must use. Called by :mod:`agentform.runtime.a2a.host` for every card request, so
the card follows reconfigures.
"""

from __future__ import annotations

from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    HTTPAuthSecurityScheme,
    SecurityRequirement,
    SecurityScheme,
    StringList,
)
from a2a.utils.constants import PROTOCOL_VERSION_CURRENT, TransportProtocol

from agentform.contract import AgentValue

__all__ = ["BEARER", "agent_card"]

BEARER = "bearer"  # the security scheme's name in the card
TEXT = "text/plain"


def agent_card(name: str, agent: AgentValue | None, url: str, version: str) -> AgentCard:
    """The card of agent ``name`` served at ``url`` (``http://127.0.0.1:PORT``)."""
    skills = [
        AgentSkill(
            id=skill.id,
            name=skill.name or skill.id,
            description=skill.description or skill.name or skill.id or name,
            # the card requires tags: a skill without any is tagged with its id
            tags=list(skill.tags) or [skill.id or name],
            examples=list(skill.examples),
        )
        for skill in (agent.skills if agent is not None else [])
    ]
    description = (agent.description if agent else "") or f"the agentform agent {name}"
    if not skills:  # the card requires one: the agent as a whole is its one skill
        skills = [AgentSkill(id=name, name=name, description=description, tags=[name])]
    return AgentCard(
        name=name,
        description=description,
        version=version,
        supported_interfaces=[
            AgentInterface(
                url=f"{url}/",
                protocol_binding=TransportProtocol.JSONRPC.value,
                protocol_version=PROTOCOL_VERSION_CURRENT,
            ),
            AgentInterface(
                url=url,
                protocol_binding=TransportProtocol.HTTP_JSON.value,
                protocol_version=PROTOCOL_VERSION_CURRENT,
            ),
        ],
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        default_input_modes=[TEXT],
        default_output_modes=[TEXT],
        skills=skills,
        security_schemes={
            BEARER: SecurityScheme(
                http_auth_security_scheme=HTTPAuthSecurityScheme(
                    scheme="Bearer",
                    description="a token from 'agentform tokens create SUBJECT'",
                )
            )
        },
        security_requirements=[SecurityRequirement(schemes={BEARER: StringList()})],
    )
