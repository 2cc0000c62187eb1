"""The support-desk example over A2A, as a customer's chat widget would use it.

Acceptance tests of delegation: ``examples/support-desk`` applied offline, a message sent with
the official a2a-sdk client is triaged, delegated to billing and answered, and ``agentform tasks
show`` prints the tree; killing the billing worker in the middle of the refund still ends with one
correct answer and exactly one refund paid (the refunds server appends every payout to a ledger).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
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

from tests.runtime.project import Project, open_project, wait_for

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
    assert child["result"].startswith("Your refund has been issued")
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
