"""The support-desk example, as its README walks through it and a customer's chat widget uses it.

Acceptance tests on ``examples/support-desk`` applied offline: a message sent with the official
a2a-sdk client is triaged, delegated to billing and answered, and ``agentform tasks show`` prints
the tree; killing the billing worker in the middle of the refund still ends with one correct
answer and exactly one refund paid (the refunds server appends every payout to a ledger); the
showcase question is answered in a sentence built from the knowledge-base article; a refund over
100 waits until a support lead approves it with their own token (``agentform --token``), and is
then paid exactly once.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import signal
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from a2a.client import ClientConfig, create_client
from a2a.types import Message, Part, Role, SendMessageRequest
from google.protobuf.json_format import ParseDict
from google.protobuf.struct_pb2 import Struct

from tests.runtime.project import TERMINAL, Project, open_project, wait_for

ROOT = Path(__file__).resolve().parents[2]
CUSTOMER = {"customer": {"name": "Ada", "id": "C-7", "plan": "pro"}}


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, str, Path]]:
    directory = tmp_path_factory.mktemp("support-desk")
    shutil.copytree(
        ROOT / "examples" / "support-desk",
        directory,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(".agentform"),
    )
    ledger = directory / "refunds.jsonl"
    spec_file = directory / "agentform.yaml"
    spec = yaml.safe_load(spec_file.read_text())
    spec["tools"]["refunds"]["mcp"]["env"] = {"REFUNDS_LEDGER": str(ledger)}
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    # billing answers 2 s after the refund is paid: the window in which its worker is killed
    script = directory / "scripts" / "billing.yaml"
    rules = yaml.safe_load(script.read_text())
    rules["rules"][0]["delay"] = "2s"
    script.write_text(yaml.safe_dump(rules, sort_keys=False))
    with open_project(directory) as project:
        project.apply()
        project.wait_ready("triage")
        project.wait_ready("billing")
        token = project.cli("tokens", "create", "web-widget")
        assert token.returncode == 0, token.stderr
        yield project, token.stdout.strip(), ledger


async def _send_over_a2a(url: str, token: str, text: str) -> list[Any]:
    metadata = Struct()
    ParseDict({"inputs": CUSTOMER}, metadata)
    request = SendMessageRequest(
        message=Message(
            role=Role.ROLE_USER,
            message_id=f"m-{uuid.uuid4().hex}",
            context_id=f"chat-{uuid.uuid4().hex[:8]}",
            parts=[Part(text=text)],
        ),
        metadata=metadata,
    )
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        client = await create_client(url, ClientConfig(streaming=False, httpx_client=http))
        return [event async for event in client.send_message(request)]


def _children(project: Project, task_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = project.client.request(
        "GET", "/v1/tasks", params={"parent": task_id, "limit": 10}
    )
    return found


def _ledger(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _triage_url(project: Project) -> str:
    agents = {a["agent"]: a for a in project.status()["agents"]}
    return str(agents["triage"]["a2a"])


def test_killing_billing_mid_refund_pays_once_and_answers_once(
    desk: tuple[Project, str, Path],
) -> None:
    project, _, ledger = desk
    paid_before = len(_ledger(ledger))
    body = {
        "agent": "triage",
        "input": "I was charged twice for order A-1002, please refund me",
        "inputs": CUSTOMER,
    }
    task_id = project.client.request("POST", "/v1/tasks", body=body)["id"]

    def refund_recorded() -> dict[str, Any] | None:
        for child in _children(project, task_id):
            steps = project.task(child["id"])["steps"]
            if any(s["kind"] == "tool_result" and "refunded" in str(s["data"]) for s in steps):
                return child
        return None

    child = wait_for(refund_recorded, 20, "the refund's recorded result")
    for pid in project.worker_pids("billing").values():
        os.kill(pid, signal.SIGKILL)  # billing is in its 2 s pause before answering
    task = project.wait_task(task_id, timeout=30)
    assert task["status"] == "completed", task
    assert "billing specialist" in task["result"]
    child = project.task(child["id"])
    assert child["status"] == "completed" and child["attempts"] >= 2
    assert child["result"].startswith("Your refund of 42.5 EUR for order A-1002 has been issued")
    refunds = _ledger(ledger)[paid_before:]
    assert [(r["order_id"], r["amount"]) for r in refunds] == [("A-1002", 42.5)], refunds
    assert len(_children(project, task_id)) == 1


def test_a_message_over_a2a_is_triaged_delegated_to_billing_and_answered(
    desk: tuple[Project, str, Path],
) -> None:
    project, token, _ = desk
    events = asyncio.run(
        _send_over_a2a(_triage_url(project), token, "How do I download my invoice as a PDF?")
    )
    text = json.dumps([str(e) for e in events])
    assert "Settings > Billing > Invoices" in text
    triage = project.client.request("GET", "/v1/tasks", params={"agent": "triage", "limit": 1})[0]
    assert triage["status"] == "completed"
    (billing,) = _children(project, triage["id"])
    assert (billing["agent"], billing["status"]) == ("billing", "completed")
    assert billing["inputs"] == CUSTOMER  # the delegate knows who the customer is
    shown = project.cli("tasks", "show", triage["id"])
    assert shown.returncode == 0, shown.stderr
    assert "tree" in shown.stdout and "billing" in shown.stdout.split("tree", 1)[1]


def _kb_article(article_id: str) -> str:
    """The body of one article of the example's knowledge-base server (its own data)."""
    path = ROOT / "examples" / "support-desk" / "servers" / "kb.py"
    spec = importlib.util.spec_from_file_location("support_desk_kb", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while it loads
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return str(next(a.body for a in module.ARTICLES if a.id == article_id))


def test_the_showcase_question_is_answered_in_prose_from_the_knowledge_base(
    desk: tuple[Project, str, Path],
) -> None:
    project, _, _ = desk
    body = {"agent": "triage", "input": "My robot does not charge any more.", "inputs": CUSTOMER}
    task_id = project.client.request("POST", "/v1/tasks", body=body)["id"]
    task = project.wait_task(task_id, timeout=30)
    assert task["status"] == "completed", task
    answer = task["result"]
    # a sentence that quotes the article the search found, not the search's JSON
    assert answer.startswith("Thanks for getting in touch!"), answer
    assert _kb_article("kb-105") in answer and "(kb-105)" in answer
    assert "{" not in answer and '"id"' not in answer
    calls = [s["data"]["name"] for s in project.task(task_id)["steps"] if s["kind"] == "tool_call"]
    assert calls == ["search_kb", "get_article"]


def _approvals(project: Project, *args: str) -> list[dict[str, Any]]:
    done = project.cli(*args, "approvals", "list", "--json")
    assert done.returncode == 0, done.stderr
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found


def test_a_refund_over_100_waits_for_a_support_lead_and_is_paid_once(
    desk: tuple[Project, str, Path],
) -> None:
    project, widget, ledger = desk
    paid_before = len(_ledger(ledger))
    body = {
        "agent": "triage",
        "input": "My robot arrived broken. Please refund 500 EUR of order A-1003.",
        "inputs": CUSTOMER,
    }
    task_id = project.client.request("POST", "/v1/tasks", body=body)["id"]

    def held() -> dict[str, Any] | None:
        mine = [a for a in _approvals(project) if a["task_id"].startswith(f"{task_id}.")]
        return mine[0] if mine else None

    request = wait_for(held, 20, "the refund's approval request")
    assert request["policies"] == ["refund-approval"] and request["arguments"]["amount"] == 500
    child = project.task(request["task_id"])
    assert (child["agent"], child["status"]) == ("billing", "input-required")
    assert project.task(task_id)["status"] not in TERMINAL
    assert _ledger(ledger)[paid_before:] == []  # nothing is paid while it waits

    # the chat widget may invoke triage, but not approve: it does not even see the request
    assert request["id"] not in [a["id"] for a in _approvals(project, "--token", widget)]
    refused = project.cli("--token", widget, "approvals", "approve", request["id"])
    assert refused.returncode == 1 and "may not decide" in refused.stderr, refused

    made = project.cli("tokens", "create", "maria.schneider")  # a member with support-lead
    assert made.returncode == 0, made.stderr
    lead = made.stdout.strip()
    assert request["id"] in [a["id"] for a in _approvals(project, "--token", lead)]
    approved = project.cli(
        "--token", lead, "approvals", "approve", request["id"], "--reason", "photo checked"
    )
    assert approved.returncode == 0, approved.stderr

    task = project.wait_task(task_id, timeout=30)
    assert task["status"] == "completed", task
    assert "Your refund of 500.0 EUR for order A-1003 has been issued" in task["result"]
    refunds = _ledger(ledger)[paid_before:]
    assert [(r["order_id"], r["amount"]) for r in refunds] == [("A-1003", 500.0)], refunds
    steps = project.task(request["task_id"])["steps"]
    assert [s["data"]["name"] for s in steps if s["kind"] == "tool_call"] == [
        "search_kb",
        "issue_refund",
    ]
    shown = project.cli("approvals", "show", request["id"], "--json")
    assert shown.returncode == 0, shown.stderr
    decided = json.loads(shown.stdout)
    assert (decided["status"], decided["decided_by"]) == ("approved", "maria.schneider")
    again = project.cli("--token", lead, "approvals", "approve", request["id"])
    assert again.returncode == 1 and "already" in again.stderr, again
    assert len(_ledger(ledger)) == paid_before + 1
