"""Admission's persistence: the cluster-wide decision lock, the per-tenant counters, taking jobs off the queue, and
where waiting jobs stand.

One decision at a time across all replicas: a pass holds `pg_advisory_xact_lock` on one key for its transaction,
reads the counters (kept by a trigger on `jobs`, migration 0008), and admits; a job's row is taken with `FOR UPDATE
SKIP LOCKED` and admitted only if it is still `queued`, so a job being cancelled is skipped, never admitted twice.
Counters only fall outside the lock (jobs ending), so a pass never exceeds a cap.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher.admission.domain import TenantLoad
from dispatcher.models import SCHEMA, admission_tenants, jobs

LOCK_KEY = "svd-admission"


async def lock(session: AsyncSession) -> None:
    """Serialise admission decisions (all replicas) until the transaction ends."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(LOCK_KEY, 0))))


async def loads(session: AsyncSession, *, waiting_only: bool = False) -> tuple[list[TenantLoad], int]:
    """Tenants with jobs queued or running (only queued with `waiting_only`), and the newest turn given so far."""
    condition = admission_tenants.c.queued > 0
    if not waiting_only:
        condition = condition | (admission_tenants.c.running > 0)
    top = select(func.max(admission_tenants.c.last_turn)).scalar_subquery()
    rows = (await session.execute(select(admission_tenants, top.label("top")).where(condition))).all()
    loads = [TenantLoad(r.tenant_id, r.queued, r.running, r.last_turn) for r in rows]
    return loads, int(rows[0].top or 0) if rows else 0


_OLDEST_QUEUED = text(
    f"""
    SELECT j.job_id, j.tenant_id FROM unnest(CAST(:tenants AS text[]), CAST(:counts AS int[])) AS p(tenant_id, n)
    CROSS JOIN LATERAL (
        SELECT job_id, tenant_id FROM "{SCHEMA}".jobs
        WHERE tenant_id = p.tenant_id AND status = 'queued'
        ORDER BY created_at, job_id LIMIT p.n
        FOR UPDATE SKIP LOCKED
    ) AS j
    """
)


async def take_oldest(session: AsyncSession, wanted: dict[str, int]) -> dict[str, list[str]]:
    """Lock up to `wanted[tenant]` of each tenant's oldest queued jobs (skipping any locked elsewhere)."""
    rows = await session.execute(_OLDEST_QUEUED, {"tenants": list(wanted), "counts": list(wanted.values())})
    taken: dict[str, list[str]] = {}
    for row in rows:
        taken.setdefault(row.tenant_id, []).append(row.job_id)
    return taken


_ADMIT = text(
    f"""
    WITH admitted AS (
        UPDATE "{SCHEMA}".jobs SET status = 'running', step = 'reserving', progress = :percent, label = '',
            admitted_at = :now, deadline_at = :deadline, updated_at = :now
        WHERE job_id = ANY(CAST(:job_ids AS text[])) AND status = 'queued'
        RETURNING *
    ), turns AS (
        UPDATE "{SCHEMA}".admission_tenants AS t SET last_turn = p.turn
        FROM unnest(CAST(:tenants AS text[]), CAST(:turns AS bigint[])) AS p(tenant_id, turn)
        WHERE t.tenant_id = p.tenant_id
    ), moved AS (
        UPDATE "{SCHEMA}".posts AS p SET status = 'generating_video', updated_at = :now
        FROM admitted AS a
        WHERE p.tenant_id = a.tenant_id AND p.social_post_id = a.social_post_id AND p.current_job_id = a.job_id
    ), logged AS (
        INSERT INTO "{SCHEMA}".job_events (job_id, time, level, message, metadata)
        SELECT job_id, :now, 'info', 'admitted: a slot is free',
            jsonb_build_object('step', 'reserving', 'percent', :percent,
                               'waited_s', round(extract(epoch FROM (:now - created_at))::numeric, 3))
        FROM admitted
    )
    SELECT * FROM admitted
    """
)


async def admit(
    session: AsyncSession, job_ids: list[str], turns: dict[str, int], now: datetime, deadline: datetime, percent: int
) -> list[Any]:
    """Admit the given queued jobs (those still queued): running, with their deadline from now; their posts move to
    `generating_video`, the admission is logged, and each tenant takes its turn. The admitted rows."""
    if not job_ids:
        return []
    result = await session.execute(
        _ADMIT,
        {
            "job_ids": job_ids,
            "tenants": list(turns),
            "turns": list(turns.values()),
            "now": now,
            "deadline": deadline,
            "percent": percent,
        },
    )
    return list(result.all())


async def set_aside(session: AsyncSession, tenant_id: str) -> int:
    """Credits this tenant's jobs will still reserve: those waiting, and those admitted whose hold is not recorded."""
    waiting = (jobs.c.status == "queued") | ((jobs.c.status == "running") & (jobs.c.reservation_id == ""))
    query = select(func.coalesce(func.sum(jobs.c.credits_needed), 0)).where(jobs.c.tenant_id == tenant_id, waiting)
    return int((await session.execute(query)).scalar_one())


async def unstarted(session: AsyncSession, admitted_before: datetime, limit: int) -> list[Any]:
    """Admitted jobs whose design request never went out (oldest admission first)."""
    query = (
        select(jobs)
        .where(jobs.c.status == "running", jobs.c.started_at.is_(None), jobs.c.admitted_at < admitted_before)
        .order_by(jobs.c.admitted_at)
        .limit(limit)
    )
    return list((await session.execute(query)).all())


_RANKS = text(
    f"""
    SELECT job_id, rank FROM (
        SELECT job_id, row_number() OVER (PARTITION BY tenant_id ORDER BY created_at, job_id) - 1 AS rank
        FROM "{SCHEMA}".jobs WHERE status = 'queued' AND tenant_id = ANY(CAST(:tenants AS text[]))
    ) AS ranked WHERE job_id = ANY(CAST(:job_ids AS text[]))
    """
)


async def ranks(session: AsyncSession, queued: list[Any]) -> dict[str, int]:
    """For each queued job row: how many older jobs of its tenant are waiting."""
    if not queued:
        return {}
    if len(queued) == 1:
        row = queued[0]
        older = select(func.count()).where(
            jobs.c.tenant_id == row.tenant_id,
            jobs.c.status == "queued",
            (jobs.c.created_at < row.created_at)
            | ((jobs.c.created_at == row.created_at) & (jobs.c.job_id < row.job_id)),
        )
        return {row.job_id: int((await session.execute(older)).scalar_one())}
    params = {"tenants": sorted({r.tenant_id for r in queued}), "job_ids": [r.job_id for r in queued]}
    return {r.job_id: int(r.rank) for r in await session.execute(_RANKS, params)}


def deadline_for_queue(now: datetime, max_wait_s: int) -> datetime:
    return now + timedelta(seconds=max_wait_s)
