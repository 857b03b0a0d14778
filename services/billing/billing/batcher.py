"""Group commit: holds, consumes and releases that arrive together go to PostgreSQL in one transaction.

Nothing waits on a timer: the first movement is sent at once, and whatever arrives while a batch is in flight forms
the next one ("smart batching"), so a lone call pays no extra latency and a busy account pays one lock acquisition
and one commit per batch instead of per movement. Each movement keeps its own outcome (see `apply_batch`,
migration 0003). If a batch fails on something other than the connection, its movements are retried one by one, so
one bad movement cannot fail the others; a lost connection fails the batch as Unavailable (every movement is
idempotent, so callers retry safely).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from svd.errors import Unavailable

log = logging.getLogger(__name__)

_BATCH = (
    "SELECT * FROM billing.apply_batch(%s::text[], %s::text[], %s::text[], %s::bigint[], %s::text[], %s::text[],"
    " %s::int[], %s::text[])"
)
_SINGLE = {
    "reserve": "SELECT 1 AS o_index, * FROM billing.reserve(%s, %s, %s, %s, %s, %s)",
    "consume": "SELECT 1 AS o_index, * FROM billing.consume(%s, %s, %s)",
    "release": "SELECT 1 AS o_index, * FROM billing.release(%s, %s, %s)",
}


@dataclass(frozen=True)
class Movement:
    """One reserve / consume / release, in `apply_batch`'s columns."""

    kind: str
    ref: str  # tenant (reserve) or reservation id
    credit_type: str | None = None
    amount: int | None = None
    text: str | None = None  # idempotency key (reserve) or reason (release)
    job_id: str | None = None
    ttl_s: int | None = None
    tenant: str | None = None  # the caller's tenant scope (consume / release); None for admins

    def single(self) -> tuple[str, tuple[Any, ...]]:
        if self.kind == "reserve":
            return _SINGLE["reserve"], (self.ref, self.credit_type, self.amount, self.text, self.job_id, self.ttl_s)
        if self.kind == "consume":
            return _SINGLE["consume"], (self.ref, self.amount, self.tenant)
        return _SINGLE["release"], (self.ref, self.text, self.tenant)


class Batcher:
    """Sends movements in batches, with at most `flushers` batches in flight."""

    def __init__(self, pool: AsyncConnectionPool, flushers: int = 2, max_batch: int = 256) -> None:
        self._pool = pool
        self._flushers = flushers
        self._max_batch = max_batch
        self._pending: list[tuple[Movement, asyncio.Future[Any]]] = []
        self._active = 0  # drain tasks started and not finished (counted synchronously, never stale)
        self._tasks: set[asyncio.Task[None]] = set()

    async def apply(self, movement: Movement) -> Any:
        """The movement's result row (`o_outcome`, the hold, the account afterwards)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((movement, future))
        if self._active < self._flushers:
            self._active += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
                try:
                    await self._flush(batch)
                except Exception as exc:  # never leave a caller waiting
                    log.exception("applying a batch of %d movements failed", len(batch))
                    _fail(batch, exc)
        finally:
            self._active -= 1  # in the same step as the last look at `_pending`: no movement is left behind

    async def _flush(self, batch: list[tuple[Movement, asyncio.Future[Any]]]) -> None:
        try:
            rows = await self._execute(batch)
        except psycopg.OperationalError as exc:
            _fail(batch, Unavailable(f"billing database unavailable: {exc}"))
            return
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch, exc)
                return
            log.exception("a batch of %d movements failed; applying them one by one", len(batch))
            for item in batch:
                await self._flush([item])
            return
        for (_, future), row in zip(batch, rows, strict=True):
            if not future.done():
                future.set_result(row)

    async def _execute(self, batch: list[tuple[Movement, asyncio.Future[Any]]]) -> list[Any]:
        async with self._pool.connection() as conn:
            if len(batch) == 1:
                query, params = batch[0][0].single()
                cursor = await conn.execute(query, params)
            else:
                moves = [m for m, _ in batch]
                cursor = await conn.execute(
                    _BATCH,
                    (
                        [m.kind for m in moves],
                        [m.ref for m in moves],
                        [m.credit_type for m in moves],
                        [m.amount for m in moves],
                        [m.text for m in moves],
                        [m.job_id for m in moves],
                        [m.ttl_s for m in moves],
                        [m.tenant for m in moves],
                    ),
                )
            rows = await cursor.fetchall()
        if len(rows) != len(batch):
            raise RuntimeError(f"apply_batch answered {len(rows)} rows for {len(batch)} movements")
        return rows


def _fail(batch: list[tuple[Movement, asyncio.Future[Any]]], error: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)
