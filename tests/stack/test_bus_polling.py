"""Idle consumers wait on the server for one message at a time (a long poll), instead of asking it twice a second for
a batch: seen from the pull requests the stack's services send to NATS."""

from __future__ import annotations

import asyncio
import json
import statistics
from collections import Counter

import nats

from svd.bus.consumer import LONG_POLL_S

WATCH_S = 2 * LONG_POLL_S


async def test_idle_consumers_long_poll_for_one_message_at_a_time(stack) -> None:
    nc = await nats.connect(stack.info["nats_url"])
    pulls: list[tuple[str, dict]] = []

    async def note(msg: nats.aio.msg.Msg) -> None:
        pulls.append((msg.subject.rsplit(".", 1)[-1], json.loads(msg.data or b"{}")))

    try:
        await nc.subscribe("$JS.API.CONSUMER.MSG.NEXT.>", cb=note)
        await asyncio.sleep(WATCH_S)
    finally:
        await nc.close()
    per_consumer = Counter(durable for durable, _ in pulls)
    assert len(per_consumer) >= 10, f"pull requests seen only from {sorted(per_consumer)}"
    assert {request.get("batch") for _, request in pulls} == {1}, pulls
    assert min(request.get("expires", 0) for _, request in pulls) >= (LONG_POLL_S - 1) * 1e9, pulls
    # A pull outlives the watch's half; a message handled meanwhile adds one (a 0.5 s batch pull made twenty).
    assert statistics.median(per_consumer.values()) <= 3, per_consumer
