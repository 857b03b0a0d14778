"""Group commit (pure): batches form while one is in flight, answers go back in order, failures stay contained."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg

from billing.batcher import Batcher, Movement
from svd.errors import Unavailable


class FakeCursor:
    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    async def fetchall(self) -> list[Any]:
        return self._rows


class FakeConnection:
    """Answers each movement with its reference; a batch containing `poison` fails as a database error would."""

    def __init__(self, log: list[list[str]], poison: str | None, down: bool) -> None:
        self._log, self._poison, self._down = log, poison, down

    async def execute(self, query: str, params: Any) -> FakeCursor:
        await asyncio.sleep(0.01)  # a round trip, during which more movements arrive
        if self._down:
            raise psycopg.OperationalError("connection refused")
        refs = list(params[1]) if "apply_batch" in query else [params[0]]
        self._log.append(refs)
        if self._poison in refs:
            raise psycopg.errors.RaiseException("bad movement")
        return FakeCursor([("ok", ref) for ref in refs])


class FakePool:
    def __init__(self, poison: str | None = None, down: bool = False) -> None:
        self.batches: list[list[str]] = []
        self._poison, self._down = poison, down

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[FakeConnection]:
        yield FakeConnection(self.batches, self._poison, self._down)


def _release(ref: str) -> Movement:
    return Movement("release", ref, text="test")


async def test_movements_arriving_together_share_a_batch_and_get_their_own_answers() -> None:
    pool = FakePool()
    batcher = Batcher(pool, flushers=1)  # type: ignore[arg-type]
    first = asyncio.create_task(batcher.apply(_release("r0")))
    await asyncio.sleep(0.001)  # r0 is in flight
    answers = await asyncio.gather(first, *(batcher.apply(_release(f"r{i}")) for i in range(1, 50)))
    assert answers == [("ok", f"r{i}") for i in range(50)]
    assert pool.batches == [["r0"], [f"r{i}" for i in range(1, 50)]]  # the rest waited for r0 together


async def test_a_failing_movement_does_not_fail_the_others() -> None:
    pool = FakePool(poison="r3")
    batcher = Batcher(pool, flushers=1)  # type: ignore[arg-type]
    answers = await asyncio.gather(*(batcher.apply(_release(f"r{i}")) for i in range(6)), return_exceptions=True)
    assert isinstance(answers[3], psycopg.errors.RaiseException)
    assert [a for i, a in enumerate(answers) if i != 3] == [("ok", f"r{i}") for i in range(6) if i != 3]


async def test_a_lost_database_is_unavailable_for_every_movement() -> None:
    batcher = Batcher(FakePool(down=True), flushers=2)  # type: ignore[arg-type]
    answers = await asyncio.gather(*(batcher.apply(_release(f"r{i}")) for i in range(5)), return_exceptions=True)
    assert all(isinstance(a, Unavailable) for a in answers)


async def test_batches_are_bounded() -> None:
    pool = FakePool()
    batcher = Batcher(pool, flushers=1, max_batch=10)  # type: ignore[arg-type]
    await asyncio.gather(*(batcher.apply(_release(f"r{i}")) for i in range(35)))
    assert max(len(b) for b in pool.batches) == 10
    assert sum(len(b) for b in pool.batches) == 35


async def test_a_movement_arriving_as_the_last_batch_ends_is_still_sent() -> None:
    pool = FakePool()
    batcher = Batcher(pool, flushers=1)  # type: ignore[arg-type]
    for i in range(20):  # each one arrives just as the previous batch's task is finishing
        first = asyncio.create_task(batcher.apply(_release(f"a{i}")))
        await first
        assert await asyncio.wait_for(batcher.apply(_release(f"b{i}")), 1) == ("ok", f"b{i}")
