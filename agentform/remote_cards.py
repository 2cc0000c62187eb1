"""Agent cards of outside agents: what ``plan`` records about each ``a2a`` tool.

An ``a2a`` tool delegates to an agent outside the project, known by the URL of its A2A agent card.
So that ``plan`` checks the card resolves, and shows when the outside agent changed, every such
tool gets a ``card`` field in its desired values: the card's ``name`` and ``version`` and a
``digest`` (SHA-256 of the card as canonical JSON). A card that does not resolve stops the plan
with one sentence per tool. Called by the CLI when it prepares a plan (never by ``validate``,
which stays offline); the runtime uses :func:`card_url` to find the same card.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

import httpx2

from agentform.provider import ResourceValue

__all__ = ["FIELD", "WELL_KNOWN_PATH", "CardError", "card_url", "digest", "fetch", "with_cards"]

FIELD = "card"
# the path the A2A specification (and a2a-sdk's AGENT_CARD_WELL_KNOWN_PATH) serves the card at
WELL_KNOWN_PATH = "/.well-known/agent-card.json"
TIMEOUT = 5.0
_SECRET_REF = re.compile(r"\$\{secret\.([A-Za-z0-9_.-]+)\}")


class CardError(Exception):
    """An agent card did not resolve; the message names the tool, the URL and what to do."""


def card_url(url: str) -> str:
    """The card's URL: ``url`` itself if it names a JSON document, else its well-known path."""
    if url.endswith(".json"):
        return url
    return url.rstrip("/") + WELL_KNOWN_PATH


def digest(card: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the card as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(card, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def fetch(url: str, headers: Mapping[str, str], *, timeout: float = TIMEOUT) -> dict[str, Any]:
    """GET the card at ``url`` (already a card URL); raise :class:`CardError` with the reason
    in a few words (the caller adds the tool and the URL)."""
    try:
        response = httpx2.get(url, headers=dict(headers), timeout=timeout, follow_redirects=True)
        response.raise_for_status()
        card = response.json()
    except httpx2.TimeoutException:
        raise CardError(f"no answer within {timeout:g}s") from None
    except httpx2.HTTPStatusError as exc:
        raise CardError(f"HTTP {exc.response.status_code}") from None
    except httpx2.ConnectError as exc:
        raise CardError("connection refused" if "refused" in str(exc) else str(exc)) from None
    except httpx2.HTTPError as exc:
        raise CardError(str(exc) or type(exc).__name__) from None
    except ValueError:
        raise CardError("the answer is not JSON") from None
    if not isinstance(card, dict) or not isinstance(card.get("name"), str):
        raise CardError("the answer is not an agent card (no name)")
    return card


def with_cards(
    desired: Mapping[str, ResourceValue],
    environ: Mapping[str, str],
    *,
    timeout: float = TIMEOUT,
) -> dict[str, ResourceValue]:
    """``desired`` with a ``card`` field on each ``a2a`` tool; :class:`CardError` listing every
    tool whose card does not resolve."""
    out: dict[str, ResourceValue] = {}
    problems: list[str] = []
    for address, resource in desired.items():
        a2a = resource.values.get("a2a") if address.startswith("tool.") else None
        if not isinstance(a2a, Mapping) or not isinstance(a2a.get("url"), str):
            out[address] = resource
            continue
        url = _resolved(str(a2a["url"]), environ)
        headers = {
            str(k): _resolved(str(v), environ) for k, v in (a2a.get("headers") or {}).items()
        }
        where = card_url(url)
        try:
            card = fetch(where, headers, timeout=timeout)
        except CardError as exc:
            problems.append(
                f"{address}: the agent card at {where} does not resolve ({exc}); check the url, "
                "or remove the tool"
            )
            continue
        version = str(card.get("version") or "")
        summary = {"name": card["name"], "version": version, "digest": digest(card)}
        out[address] = ResourceValue.of(address, {**resource.values, FIELD: summary})
    if problems:
        raise CardError("\n".join(problems))
    return out


def _resolved(text: str, environ: Mapping[str, str]) -> str:
    # an unset secret stays a reference: the request then fails and says so
    return _SECRET_REF.sub(lambda m: environ.get(m.group(1), m.group(0)), text)
