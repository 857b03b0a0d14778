"""Dispatcher persistence: jobs, posts and the job event log, each change logged in the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher.models import brands, job_events, jobs, posts, processed_events
from svd.timeutil import utcnow

ACTIVE_STATUSES = ("queued", "running")


async def log_event(session: AsyncSession, job_id: str, message: str, level: str = "info", **metadata: Any) -> None:
    await session.execute(
        insert(job_events).values(job_id=job_id, level=level, message=message, metadata=metadata, time=utcnow())
    )


async def task_charged(session: AsyncSession, job_id: str, provider_job_id: str) -> bool:
    """Whether the job's log already counts `provider_job_id`'s actual cost (an earlier attempt that fetched it)."""
    query = select(job_events.c.event_id).where(
        job_events.c.job_id == job_id, job_events.c.metadata["charged_task"].astext == provider_job_id
    )
    return (await session.execute(query.limit(1))).first() is not None


async def job_by_event(session: AsyncSession, event_id: str) -> Any | None:
    return (await session.execute(select(jobs).where(jobs.c.source_event_id == event_id))).first()


async def job(session: AsyncSession, job_id: str, *, lock: bool = False) -> Any | None:
    query = select(jobs).where(jobs.c.job_id == job_id)
    return (await session.execute(query.with_for_update() if lock else query)).first()


async def active_job_for_post(session: AsyncSession, tenant_id: str, social_post_id: str) -> Any | None:
    return (
        await session.execute(
            select(jobs).where(
                jobs.c.tenant_id == tenant_id,
                jobs.c.social_post_id == social_post_id,
                jobs.c.status.in_(ACTIVE_STATUSES),
            )
        )
    ).first()


async def mark_started(session: AsyncSession, job_id: str) -> None:
    """The admitted job's design request went out (admission resumes admitted jobs without it)."""
    await session.execute(
        update(jobs).where(jobs.c.job_id == job_id, jobs.c.started_at.is_(None)).values(started_at=utcnow())
    )


async def jobs_past_deadline(session: AsyncSession, now: datetime, limit: int) -> list[Any]:
    """Active jobs whose deadline has passed, oldest deadline first (a partial index covers exactly these)."""
    query = (
        select(jobs.c.job_id, jobs.c.step, jobs.c.status)
        .where(jobs.c.status.in_(ACTIVE_STATUSES), jobs.c.deadline_at < now)
        .order_by(jobs.c.deadline_at)
        .limit(limit)
    )
    return list((await session.execute(query)).all())


async def latest_job_for_post(session: AsyncSession, tenant_id: str, social_post_id: str) -> Any | None:
    query = (
        select(jobs)
        .where(jobs.c.tenant_id == tenant_id, jobs.c.social_post_id == social_post_id)
        .order_by(jobs.c.run.desc())
        .limit(1)
    )
    return (await session.execute(query)).first()


async def lock_post_key(session: AsyncSession, tenant_id: str, social_post_id: str) -> None:
    """Serialise job creation for one post until the transaction ends (the post row may not exist yet)."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"{tenant_id}/{social_post_id}", 0))))


async def lock_tenant_credits(session: AsyncSession, tenant_id: str) -> None:
    """Serialise, per tenant, the credit check of new jobs with the recording of admitted jobs' holds, until the
    transaction ends."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"svd-credits/{tenant_id}", 0))))


async def next_run(session: AsyncSession, tenant_id: str, social_post_id: str) -> int:
    rows = await session.execute(
        select(jobs.c.run).where(jobs.c.tenant_id == tenant_id, jobs.c.social_post_id == social_post_id)
    )
    return max((r.run for r in rows), default=0) + 1


async def insert_job(session: AsyncSession, values: dict[str, Any]) -> Any:
    now = utcnow()
    return (await session.execute(insert(jobs).values(created_at=now, updated_at=now, **values).returning(jobs))).one()


async def update_job(session: AsyncSession, job_id: str, **values: Any) -> Any:
    return (
        await session.execute(
            update(jobs).where(jobs.c.job_id == job_id).values(updated_at=utcnow(), **values).returning(jobs)
        )
    ).one()


async def post(session: AsyncSession, tenant_id: str, social_post_id: str, *, lock: bool = False) -> Any | None:
    query = select(posts).where(posts.c.tenant_id == tenant_id, posts.c.social_post_id == social_post_id)
    return (await session.execute(query.with_for_update() if lock else query)).first()


async def upsert_post(session: AsyncSession, tenant_id: str, social_post_id: str, **values: Any) -> Any:
    now = utcnow()
    statement = pg_insert(posts).values(
        tenant_id=tenant_id, social_post_id=social_post_id, created_at=now, updated_at=now, **values
    )
    statement = statement.on_conflict_do_update(
        index_elements=[posts.c.tenant_id, posts.c.social_post_id], set_={"updated_at": now, **values}
    )
    return (await session.execute(statement.returning(posts))).one()


async def update_post(session: AsyncSession, tenant_id: str, social_post_id: str, **values: Any) -> Any:
    """Change some fields of an existing post (an upsert cannot: the insert half needs every required column)."""
    return (
        await session.execute(
            update(posts)
            .where(posts.c.tenant_id == tenant_id, posts.c.social_post_id == social_post_id)
            .values(updated_at=utcnow(), **values)
            .returning(posts)
        )
    ).one()


async def mark_processed(session: AsyncSession, event_id: str, subject: str) -> bool:
    """Record an event id; False when it was processed before."""
    result = await session.execute(
        pg_insert(processed_events)
        .values(event_id=event_id, subject=subject)
        .on_conflict_do_nothing()
        .returning(processed_events.c.event_id)
    )
    return result.first() is not None


async def prune_processed(session: AsyncSession, before: datetime, limit: int) -> int:
    """Forget up to `limit` processed-event ids recorded before `before` (a redelivery that late is not expected);
    how many were removed."""
    oldest = select(processed_events.c.event_id).where(processed_events.c.processed_at < before).limit(limit)
    result = await session.execute(delete(processed_events).where(processed_events.c.event_id.in_(oldest)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def brand(session: AsyncSession, tenant_id: str) -> Any | None:
    return (await session.execute(select(brands).where(brands.c.tenant_id == tenant_id))).first()


async def put_brand(session: AsyncSession, tenant_id: str, **values: Any) -> Any:
    statement = pg_insert(brands).values(tenant_id=tenant_id, updated_at=utcnow(), **values)
    statement = statement.on_conflict_do_update(
        index_elements=[brands.c.tenant_id], set_={"updated_at": utcnow(), **values}
    )
    return (await session.execute(statement.returning(brands))).one()


async def list_jobs(
    session: AsyncSession,
    tenant_id: str,
    social_post_id: str,
    status: str,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[Any]:
    conditions = []
    if tenant_id:
        conditions.append(jobs.c.tenant_id == tenant_id)
    if social_post_id:
        conditions.append(jobs.c.social_post_id == social_post_id)
    if status:
        conditions.append(jobs.c.status == status)
    if start is not None:
        conditions.append(jobs.c.created_at >= start)
    if end is not None:
        conditions.append(jobs.c.created_at < end)
    if after is not None:
        conditions.append(tuple_(jobs.c.created_at, jobs.c.job_id) < tuple_(literal(after[0]), literal(after[1])))
    query = (
        select(jobs).where(and_(literal(True), *conditions)).order_by(jobs.c.created_at.desc(), jobs.c.job_id.desc())
    )
    return list((await session.execute(query.limit(limit))).all())


async def posts_of(session: AsyncSession, rows: list[Any]) -> dict[tuple[str, str], Any]:
    """The posts of these jobs, by (tenant id, post id)."""
    keys = {(row.tenant_id, row.social_post_id) for row in rows}
    if not keys:
        return {}
    query = select(posts).where(tuple_(posts.c.tenant_id, posts.c.social_post_id).in_(keys))
    return {(row.tenant_id, row.social_post_id): row for row in (await session.execute(query)).all()}


async def events_after(session: AsyncSession, job_id: str, after_event_id: int) -> list[Any]:
    query = (
        select(job_events)
        .where(job_events.c.job_id == job_id, job_events.c.event_id > after_event_id)
        .order_by(job_events.c.event_id)
    )
    return list((await session.execute(query)).all())


async def events(
    session: AsyncSession, job_id: str, start: datetime | None, end: datetime | None, limit: int
) -> list[Any]:
    conditions = [job_events.c.job_id == job_id]
    if start is not None:
        conditions.append(job_events.c.time >= start)
    if end is not None:
        conditions.append(job_events.c.time < end)
    query = select(job_events).where(and_(*conditions)).order_by(job_events.c.event_id).limit(limit)
    return list((await session.execute(query)).all())
