"""Fuzz of the call lane's reading of a server's stdout (``agentform/runtime/tools/call_lane.py``):
whatever the server writes and however the pipe cuts it into chunks, the lane never raises, each
call in flight gets exactly its own answer, and every other message reaches the SDK session, in
order. A unit test of the one module: no process, the pipe's callback fed directly."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from mcp.shared.message import SessionMessage

from agentform.runtime.tools.call_lane import StdioLane, _Pipes

_ids = st.integers(min_value=1, max_value=40)
_answer = st.builds(
    lambda n, text: {"jsonrpc": "2.0", "id": f"agentform-{n}", "result": {"content": [text]}},
    _ids,
    st.text(max_size=20),
)
_error = st.builds(
    lambda n: {"jsonrpc": "2.0", "id": f"agentform-{n}", "error": {"code": -1, "message": "no"}},
    _ids,
)
_for_session = st.builds(
    lambda n: {"jsonrpc": "2.0", "method": "notifications/message", "params": {"n": n}},
    st.integers(min_value=0, max_value=10**6),
)
_garbage = st.one_of(
    st.binary(max_size=30).filter(lambda b: b"\n" not in b),
    st.sampled_from([b"{", b"[]", b'{"id": "agentform-x"}', b"null", b'"text"', b"   "]),
)
_lines = st.lists(
    st.one_of(
        _answer.map(lambda m: json.dumps(m).encode()),
        _error.map(lambda m: json.dumps(m).encode()),
        _for_session.map(lambda m: json.dumps(m).encode()),
        _garbage,
    ),
    max_size=30,
)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for point in [*points, len(data)]:
        pieces.append(data[start:point])
        start = point
    return [p for p in pieces if p]


@settings(max_examples=150, deadline=None)
@given(lines=_lines, cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_any_output_in_any_chunks_reaches_the_right_waiter(
    lines: list[bytes], cuts: list[int]
) -> None:
    async def main() -> None:
        lane = StdioLane(["true"], env={}, cwd=None, errlog=io.StringIO())
        loop = asyncio.get_running_loop()
        waiting = {f"agentform-{n}": loop.create_future() for n in range(1, 41)}
        lane._pending.update(waiting)
        pipes = _Pipes(lane)
        for piece in _chunks(b"\n".join(lines) + b"\n", cuts):
            pipes.pipe_data_received(1, piece)

        expected_first: dict[str, dict[str, Any]] = {}
        to_session: list[dict[str, Any]] = []
        for line in lines:
            try:
                data = json.loads(line)
            except ValueError:
                continue
            request_id = data.get("id") if isinstance(data, dict) else None
            if isinstance(request_id, str) and request_id.startswith("agentform-"):
                expected_first.setdefault(request_id, data)  # later answers are dropped
            elif isinstance(data, dict) and data.get("method"):
                to_session.append(data)

        for request_id, future in waiting.items():
            if request_id in expected_first:
                assert future.done() and future.result() == expected_first[request_id]
                assert request_id not in lane._pending
            else:
                assert not future.done()
        received: list[dict[str, Any]] = []
        while True:
            try:
                item = lane._session_reads.receive_nowait()
            except Exception:
                break
            if isinstance(item, SessionMessage):
                received.append(item.message.model_dump(by_alias=True, exclude_unset=True))
        assert [m["params"]["n"] for m in received] == [m["params"]["n"] for m in to_session]
        lane._ended()  # calls still waiting end with the connection, not hang
        lane._session_reads.close()
        assert all(f.done() for f in waiting.values())
        for future in waiting.values():
            future.exception()  # retrieved: an ended call's error is the caller's to read

    asyncio.run(main())
