"""Key usage retention on the stack's PostgreSQL: the gateway's flusher prunes usage events past their retention."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

from svd.db.pool import open_pool
from tests.conftest import RunningStack
from tests.gateway.helpers import db
from video_gateway.keypool import KeyCipher, KeyPool

DAY = 86400.0


def _insert_usage(stack: RunningStack, key_id: int, ages_days: list[float]) -> None:
    now = datetime.now(UTC)
    with db(stack.info) as conn:
        conn.cursor().executemany(
            "insert into video_gateway.key_usage (key_id, at, action, outcome) values (%s, %s, 'status', 'ok')",
            [(key_id, now - timedelta(days=age)) for age in ages_days],
        )


def _ages_left(stack: RunningStack, key_id: int) -> list[int]:
    with db(stack.info) as conn:
        rows = conn.execute(
            "select round(extract(epoch from now() - at) / 86400) from video_gateway.key_usage where key_id = %s"
            " order by at",
            (key_id,),
        ).fetchall()
    return [int(age) for (age,) in rows]


async def test_prune_deletes_only_events_past_retention_in_batches(stack: RunningStack) -> None:
    key_id = -random.randrange(1, 1 << 30)  # no real key has a negative id
    _insert_usage(stack, key_id, [30, 20, 15, 13, 1, 0])
    async with open_pool(stack.info["database_url"], 1, "test", durable=False) as connections:
        pool = KeyPool(connections, KeyCipher.ephemeral(), default_cooldown_s=30)
        assert await pool.prune_usage(14 * DAY, batch=2) >= 3
    assert _ages_left(stack, key_id) == [13, 1, 0]


async def test_the_flusher_prunes_when_it_starts(stack: RunningStack) -> None:
    key_id = -random.randrange(1, 1 << 30)
    _insert_usage(stack, key_id, [9, 3])
    async with open_pool(stack.info["database_url"], 1, "test", durable=False) as connections:
        pool = KeyPool(connections, KeyCipher.ephemeral(), default_cooldown_s=30)
        stop = asyncio.Event()
        flusher = asyncio.create_task(pool.run_flusher(stop, retention_s=7 * DAY, interval_s=0.1))
        await asyncio.sleep(0.5)
        stop.set()
        await flusher
    assert _ages_left(stack, key_id) == [3]
