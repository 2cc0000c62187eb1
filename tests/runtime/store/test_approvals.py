"""The approval book's ``request`` is idempotent per task and call, on both backends.

A worker SIGKILLed after filing a held call's request and before recording the hold replays
the task and files the same request again; the chaos suite (``benchmarks/chaos.py``) failed such
tasks with "UNIQUE constraint failed: agentform_approvals.id", because the table's transaction
turned the duplicate key into a StoreError before ``request`` could see it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from agentform.runtime.store.approvals import ApprovalBook


@pytest.fixture
def book(runtime_url: str) -> Iterator[ApprovalBook]:
    opened = ApprovalBook(runtime_url)
    try:
        yield opened
    finally:
        opened.close()


def _request(book: ApprovalBook, **changes: Any) -> Any:
    values: dict[str, Any] = {
        "task_id": "t1.b1",
        "call_id": "c1",
        "agent": "billing",
        "tool": "refunds",
        "function": "issue_refund",
        "arguments": {"amount": 500},
        "args_digest": "d1",
        "policies": ["refund-approval"],
        "approvers": ["support-lead"],
        "reason": "held by refund-approval",
        "timeout": timedelta(hours=4),
    }
    return book.request(**{**values, **changes})


def test_filing_a_request_again_returns_the_first_one(book: ApprovalBook) -> None:
    first = _request(book)
    again = _request(book, reason="filed again after a crash")
    assert again == first
    assert [a.id for a in book.list_requests(status="pending")] == [first.id]


def test_a_request_filed_again_after_its_decision_keeps_the_decision(book: ApprovalBook) -> None:
    first = _request(book)
    assert book.decide(first.id, "approved", by="maria.schneider") is not None
    again = _request(book)
    assert (again.id, again.status, again.decided_by) == (first.id, "approved", "maria.schneider")


def test_a_request_the_table_cannot_take_is_still_an_error(book: ApprovalBook) -> None:
    book.close()
    with pytest.raises(Exception, match="closed"):
        _request(book)
