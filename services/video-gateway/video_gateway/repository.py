"""Submission rows: claim before submitting, record the provider task, count checks, end in one state.

Every transition is a single conditional statement (`WHERE state = …`), so concurrent replicas, redeliveries and a
cancellation racing a submit or a poll resolve in the database: exactly one of them wins.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from svd.db import transaction
from svd.db.pool import Pool
from video_gateway.models import ACTIVE, CANCELLED, POLLING, SCHEMA, SUBMITTING, submissions

_COUNT_CHECK = f"""
    UPDATE {SCHEMA}.submissions SET checks = checks + 1, last_check_at = now()
    WHERE job_id = %s AND run = %s AND state = '{POLLING}'
    RETURNING checks
    """


class Submissions:
    """`sessions` commit durably. The per-check counter, on the poll loop's hot path, is one prepared autocommit
    statement on `relaxed`, connections that do not wait for the WAL flush: a count lost in a crash changes nothing
    (the schedule is anchored at the submission time)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], relaxed: Pool) -> None:
        self._sessions = sessions
        self._relaxed = relaxed

    def _key(self, job_id: str, run: int) -> Any:
        return (submissions.c.job_id == job_id) & (submissions.c.run == run)

    async def get(self, job_id: str, run: int) -> Any | None:
        async with self._sessions() as session:
            return (await session.execute(select(submissions).where(self._key(job_id, run)))).first()

    async def claim(self, job_id: str, run: int, motion_prompt: str, stale_after_s: float) -> tuple[bool, Any]:
        """Claim the run for submitting: (True, row) when this caller must submit, else (False, existing row).

        A claim older than `stale_after_s` (its holder crashed mid-submit) is taken over."""
        async with transaction(self._sessions) as session:
            inserted = (
                await session.execute(
                    pg_insert(submissions)
                    .values(
                        job_id=job_id, run=run, state=SUBMITTING, motion_prompt=motion_prompt, claimed_at=func.now()
                    )
                    .on_conflict_do_nothing()
                    .returning(submissions)
                )
            ).first()
            if inserted is not None:
                return True, inserted
            taken = (
                await session.execute(
                    update(submissions)
                    .where(
                        self._key(job_id, run),
                        submissions.c.state == SUBMITTING,
                        (submissions.c.claimed_at.is_(None))
                        | (submissions.c.claimed_at < func.now() - timedelta(seconds=stale_after_s)),
                    )
                    .values(claimed_at=func.now(), motion_prompt=motion_prompt)
                    .returning(submissions)
                )
            ).first()
            if taken is not None:
                return True, taken
            existing = (await session.execute(select(submissions).where(self._key(job_id, run)))).one()
            return False, existing

    async def release(self, job_id: str, run: int) -> None:
        """Give up a claim without submitting (an unexpected error): the next delivery may claim at once."""
        async with transaction(self._sessions) as session:
            await session.execute(
                update(submissions)
                .where(self._key(job_id, run), submissions.c.state == SUBMITTING)
                .values(claimed_at=None)
            )

    async def submitted(self, job_id: str, run: int, provider: str, provider_job_id: str) -> Any | None:
        """Record the provider task; None when the run was cancelled meanwhile (the caller cancels the task)."""
        async with transaction(self._sessions) as session:
            return (
                await session.execute(
                    update(submissions)
                    .where(self._key(job_id, run), submissions.c.state == SUBMITTING)
                    .values(state=POLLING, provider=provider, provider_job_id=provider_job_id, submitted_at=func.now())
                    .returning(submissions)
                )
            ).first()

    async def count_check(self, job_id: str, run: int) -> int | None:
        """Count one status check of a polling run; None when the run is not polling any more (or unknown)."""
        async with self._relaxed.connection() as conn:
            row = await (await conn.execute(_COUNT_CHECK, (job_id, run))).fetchone()
        return None if row is None else int(row.checks)

    async def finish(self, job_id: str, run: int, state: str, reason: str = "") -> bool:
        """End an active run in `state`; False when it had already ended."""
        async with transaction(self._sessions) as session:
            ended = await session.execute(
                update(submissions)
                .where(self._key(job_id, run), submissions.c.state.in_(ACTIVE))
                .values(state=state, reason=reason[:2000], finished_at=func.now())
                .returning(submissions.c.job_id)
            )
            return ended.first() is not None

    async def cancel(self, job_id: str, run: int, reason: str) -> tuple[Any | None, bool]:
        """Cancel a run: (the row as it was, whether this call cancelled it). A run not seen yet is recorded as
        cancelled, so its still (if it ever arrives) is never submitted."""
        async with transaction(self._sessions) as session:
            inserted = (
                await session.execute(
                    pg_insert(submissions)
                    .values(job_id=job_id, run=run, state=CANCELLED, reason=reason, finished_at=func.now())
                    .on_conflict_do_nothing()
                    .returning(submissions.c.job_id)
                )
            ).first()
            if inserted is not None:
                return None, True
            before = (await session.execute(select(submissions).where(self._key(job_id, run)).with_for_update())).one()
            if before.state not in ACTIVE:
                return before, False
            await session.execute(
                update(submissions)
                .where(self._key(job_id, run))
                .values(state=CANCELLED, reason=reason[:2000], finished_at=func.now())
            )
            return before, True
