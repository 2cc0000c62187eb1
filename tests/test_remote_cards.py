"""What plan records about a2a tools: the card's name, version and digest, or an error."""

from __future__ import annotations

import socket

import pytest
from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH

from agentform.provider import ResourceValue
from agentform.remote_cards import WELL_KNOWN_PATH, CardError, card_url, digest, with_cards
from tests.a2a_echo import serve_echo


def _desired(url: str) -> dict[str, ResourceValue]:
    a2a = {"url": url, "headers": {"Authorization": "Bearer ${secret.T}"}}
    return {
        "tool.partner": ResourceValue.of("tool.partner", {"a2a": a2a, "side_effects": "unsafe"}),
        "tool.kb": ResourceValue.of("tool.kb", {"mcp": {"url": "http://kb/mcp"}}),
    }


def _card(url: str) -> dict[str, object]:
    return dict(with_cards(_desired(url), {"T": "x"})["tool.partner"].values["card"])


def test_the_well_known_path_is_the_sdks() -> None:
    assert WELL_KNOWN_PATH == AGENT_CARD_WELL_KNOWN_PATH


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://a.example", "https://a.example/.well-known/agent-card.json"),
        ("https://a.example/x/", "https://a.example/x/.well-known/agent-card.json"),
        ("https://a.example/card.json", "https://a.example/card.json"),
    ],
    ids=["base", "base-with-slash", "card"],
)
def test_card_url(url: str, expected: str) -> None:
    assert card_url(url) == expected


def test_digest_is_canonical() -> None:
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1})
    assert digest({"a": 1}).startswith("sha256:") and digest({"a": 1}) != digest({"a": 2})


def test_the_card_is_recorded_and_stable_for_the_same_card() -> None:
    with serve_echo() as server:
        first, again = _card(server.url), _card(server.url + WELL_KNOWN_PATH)
        desired = with_cards(_desired(server.url), {})
    assert first == again
    assert first["name"] == "echo" and first["version"] == "1.0.0"
    assert str(first["digest"]).startswith("sha256:")
    assert "card" not in desired["tool.kb"].values  # only a2a tools have one


def test_a_changed_card_changes_the_digest() -> None:
    with serve_echo(description="Echoes.") as server:
        before = _card(server.url)
        server.description = "Echoes, now louder."
        after = _card(server.url)
    assert before["digest"] != after["digest"]
    assert (before["name"], before["version"]) == (after["name"], after["version"])


def test_a_card_that_does_not_resolve_is_a_plan_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(CardError) as caught:
        with_cards(_desired(url), {}, timeout=2)
    assert str(caught.value) == (
        f"tool.partner: the agent card at {url}/.well-known/agent-card.json does not resolve "
        "(connection refused); check the url, or remove the tool"
    )
