"""Two deployments of one project on one NATS, told apart by ``runtime.bus.stream_prefix``: every
subject and every JetStream name (stream, consumers' stream, health and lease buckets) carries the
prefix, so each deployment's tasks stay its own. On a real nats-server."""

from __future__ import annotations

import asyncio

from agentform.runtime.bus import BusLayout, TaskMessage, connect, ensure_agent, ensure_stream


def test_the_default_prefix_keeps_the_names_deployments_already_have() -> None:
    layout = BusLayout(project="shop")
    assert (layout.stream, layout.health, layout.leases) == (
        "AF_shop_TASKS",
        "AF_shop_health",
        "AF_shop_leases",
    )


def test_two_prefixes_share_a_server_apart(nats_url: str) -> None:
    a, b = BusLayout(project="shop", prefix="team-a"), BusLayout(project="shop", prefix="team-b")
    names_a = {a.stream, a.health, a.leases, a.task_subject("x"), a.inbound_subject("x")}
    names_b = {b.stream, b.health, b.leases, b.task_subject("x"), b.inbound_subject("x")}
    assert not names_a & names_b
    assert a.stream == "AF_team-a_shop_TASKS"

    async def main() -> tuple[int, int]:
        nc = await connect(nats_url, name="layout-test", reconnect=False)
        try:
            js = nc.jetstream()
            for layout in (a, b):
                await ensure_stream(js, layout)
                await ensure_agent(js, layout, "x")
            await js.publish(
                a.task_subject("x"),
                TaskMessage("t1", "x", "hi", "c1").encode(),
                headers={"Nats-Msg-Id": "t1"},
            )
            info_a, info_b = await js.stream_info(a.stream), await js.stream_info(b.stream)
            await js.key_value(a.leases)  # made by ensure_stream, for workers to bind
            await js.key_value(b.health)
            return info_a.state.messages, info_b.state.messages
        finally:
            await nc.close()

    assert asyncio.run(main()) == (1, 0)  # team-a's task is team-a's alone
