"""Submission rows: claim before submitting, record the provider task, count checks, end in one state.

Every transition is a single conditional statement (`WHERE state = …`), so concurrent replicas, redeliveries and a
cancellation racing a submit or a poll resolve in the database: exactly one of them wins. The submit steps are also
conditional on the claim's token, so a worker whose claim was taken over (it seemed dead) can change nothing more.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from svd.db import transaction
from svd.db.pool import Pool
from video_gateway.capacity import Full, has_room
from video_gateway.models import ACTIVE, CANCELLED, POLLING, SCHEMA, SUBMITTING, submissions

_COUNT_CHECK = f"""
    UPDATE {SCHEMA}.submissions SET checks = checks + 1, last_check_at = now()
    WHERE job_id = %s AND run = %s AND state = '{POLLING}'
    RETURNING checks, key_id, started_at
    """


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a run for submitting."""

    mine: bool  # this caller must submit (and holds `token`)
    row: Any
    token: str = ""
    # Taken over from a holder that stopped mid-call: a submit request may have reached the provider (the row names
    # the provider and key); whether a task exists cannot be known.
    interrupted: bool = False


@dataclass(frozen=True)
class Check:
    number: int  # status checks made so far, this one included
    key_id: int | None  # the key that submitted the task
    started_at: datetime | None = None  # when the provider was first seen working on it


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

    async def claim(
        self,
        job_id: str,
        run: int,
        motion_prompt: str,
        stale_after_s: float,
        still_key: str = "",
        overlay_key: str = "",
    ) -> Claim:
        """Claim the run for submitting. A claim not renewed for `stale_after_s` (its holder crashed or was stopped
        mid-submit; every attempt renews it) is taken over. The still and overlay are kept for a resumed run."""
        token = str(uuid.uuid4())
        async with transaction(self._sessions) as session:
            inserted = (
                await session.execute(
                    pg_insert(submissions)
                    .values(
                        job_id=job_id,
                        run=run,
                        state=SUBMITTING,
                        motion_prompt=motion_prompt,
                        claimed_at=func.now(),
                        claim_token=token,
                        still_key=still_key,
                        overlay_key=overlay_key,
                    )
                    .on_conflict_do_nothing()
                    .returning(submissions)
                )
            ).first()
            if inserted is not None:
                return Claim(True, inserted, token)
            # The attempt columns are left as they are: RETURNING shows whether the old holder was mid-call.
            taken = (
                await session.execute(
                    update(submissions)
                    .where(
                        self._key(job_id, run),
                        submissions.c.state == SUBMITTING,
                        (submissions.c.claimed_at.is_(None))
                        | (submissions.c.claimed_at < func.now() - timedelta(seconds=stale_after_s)),
                    )
                    .values(claimed_at=func.now(), claim_token=token, motion_prompt=motion_prompt)
                    .returning(submissions)
                )
            ).first()
            if taken is not None:
                return Claim(True, taken, token, interrupted=taken.attempt_id is not None)
            existing = (await session.execute(select(submissions).where(self._key(job_id, run)))).one()
            return Claim(False, existing)

    def _held(self, job_id: str, run: int, token: str) -> Any:
        return self._key(job_id, run) & (submissions.c.state == SUBMITTING) & (submissions.c.claim_token == token)

    async def begin_attempt(self, job_id: str, run: int, token: str, provider: str, key_id: int) -> str | None:
        """Record, before the request goes out, that `provider` is being sent the submit with key `key_id`; renews
        the claim. The attempt's id, or None when the claim is no longer this worker's."""
        attempt_id = str(uuid.uuid4())
        async with transaction(self._sessions) as session:
            begun = (
                await session.execute(
                    update(submissions)
                    .where(self._held(job_id, run, token))
                    .values(
                        attempt_id=attempt_id,
                        attempt_at=func.now(),
                        claimed_at=func.now(),
                        provider=provider,
                        key_id=key_id,
                    )
                    .returning(submissions.c.job_id)
                )
            ).first()
        return attempt_id if begun is not None else None

    async def clear_attempt(self, job_id: str, run: int, token: str, attempt_id: str) -> None:
        """The attempt provably created nothing (refused, or never sent)."""
        async with transaction(self._sessions) as session:
            await session.execute(
                update(submissions)
                .where(self._held(job_id, run, token), submissions.c.attempt_id == attempt_id)
                .values(attempt_id=None)
            )

    async def reserve(self, job_id: str, run: int, token: str, provider: str, cap: int) -> Full | None:
        """Hold one of `provider`'s `cap` slots for the claimed run (the row names the provider from now on, and
        counts as in flight there until it ends or is released); `Full` when the others hold every slot. Counted under
        a transaction-scoped advisory lock per provider, so replicas never grant the same last slot twice. Raises
        LookupError when the claim is no longer this worker's."""
        async with transaction(self._sessions) as session:
            if cap > 0:
                await session.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"{SCHEMA}.slots.{provider}"}
                )
                in_flight = (
                    await session.execute(
                        select(func.count())
                        .select_from(submissions)
                        .where(
                            submissions.c.provider == provider,
                            submissions.c.state.in_(ACTIVE),
                            ~self._key(job_id, run),
                        )
                    )
                ).scalar_one()
                if not has_room(in_flight, cap):
                    return Full(provider, in_flight, cap)
            held = (
                await session.execute(
                    update(submissions)
                    .where(self._held(job_id, run, token))
                    .values(provider=provider, claimed_at=func.now())
                    .returning(submissions.c.job_id)
                )
            ).first()
        if held is None:
            raise LookupError(f"job {job_id} run {run} is no longer being submitted by this worker")
        return None

    async def release(self, job_id: str, run: int, token: str) -> None:
        """Give up a claim with nothing in flight (and the provider slot it held): the next delivery may claim at
        once."""
        async with transaction(self._sessions) as session:
            await session.execute(
                update(submissions)
                .where(self._held(job_id, run, token))
                .values(claimed_at=None, claim_token=None, attempt_id=None, provider=None)
            )

    async def submitted(
        self, job_id: str, run: int, token: str, attempt_id: str, provider: str, provider_job_id: str, key_id: int
    ) -> Any | None:
        """Record the provider task of the attempt; None when the run was cancelled meanwhile or the claim taken over
        (the caller cancels the task)."""
        async with transaction(self._sessions) as session:
            return (
                await session.execute(
                    update(submissions)
                    .where(self._held(job_id, run, token), submissions.c.attempt_id == attempt_id)
                    .values(
                        state=POLLING,
                        provider=provider,
                        provider_job_id=provider_job_id,
                        key_id=key_id,
                        submitted_at=func.now(),
                    )
                    .returning(submissions)
                )
            ).first()

    async def resume(self, job_id: str, run: int, from_run: int) -> Any | None:
        """Carry the provider task of `from_run` over to `run` (a retried job resumes it: no new submit), polling
        again from now. The new run's row (also when it already existed), or None when `from_run` never made a task
        here."""
        async with transaction(self._sessions) as session:
            source = (
                await session.execute(
                    select(submissions).where(self._key(job_id, from_run), submissions.c.provider_job_id.is_not(None))
                )
            ).first()
            if source is None:
                return None
            await session.execute(
                pg_insert(submissions)
                .values(
                    job_id=job_id,
                    run=run,
                    state=POLLING,
                    provider=source.provider,
                    provider_job_id=source.provider_job_id,
                    motion_prompt=source.motion_prompt,
                    key_id=source.key_id,
                    still_key=source.still_key,
                    overlay_key=source.overlay_key,
                    resumed_from_run=from_run,
                    submitted_at=func.now(),
                )
                .on_conflict_do_nothing()
            )
            return (await session.execute(select(submissions).where(self._key(job_id, run)))).one()

    async def later_run_with_task(self, job_id: str, run: int, provider_job_id: str) -> int | None:
        """A later run of the job that resumed `provider_job_id` (a retry fetching the same task), if any."""
        async with self._sessions() as session:
            later = await session.execute(
                select(func.max(submissions.c.run)).where(
                    submissions.c.job_id == job_id,
                    submissions.c.run > run,
                    submissions.c.provider_job_id == provider_job_id,
                )
            )
            return later.scalar_one_or_none()

    async def count_check(self, job_id: str, run: int) -> Check | None:
        """Count one status check of a polling run; None when the run is not polling any more (or unknown)."""
        async with self._relaxed.connection() as conn:
            row = await (await conn.execute(_COUNT_CHECK, (job_id, run))).fetchone()
        return None if row is None else Check(int(row.checks), row.key_id, row.started_at)

    async def mark_started(self, job_id: str, run: int) -> datetime:
        """Record that the provider started the run's task (once); when it was first seen started."""
        async with transaction(self._sessions) as session:
            started = await session.execute(
                update(submissions)
                .where(self._key(job_id, run), submissions.c.started_at.is_(None))
                .values(started_at=func.now())
                .returning(submissions.c.started_at)
            )
            row = started.first()
            if row is not None:
                return row.started_at  # type: ignore[no-any-return]
            known = await session.execute(select(submissions.c.started_at).where(self._key(job_id, run)))
            return known.scalar_one()  # type: ignore[no-any-return]

    async def finish(self, job_id: str, run: int, state: str, reason: str = "", token: str | None = None) -> bool:
        """End an active run in `state` (a submitting one only by its claim's holder, when `token` is given); False
        when it had already ended."""
        held = self._held(job_id, run, token) if token is not None else submissions.c.state.in_(ACTIVE)
        async with transaction(self._sessions) as session:
            ended = await session.execute(
                update(submissions)
                .where(self._key(job_id, run), held)
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
