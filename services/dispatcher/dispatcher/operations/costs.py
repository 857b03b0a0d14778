"""What jobs cost at their providers, summed by tenant or provider (read-only, for `Operations.SummarizeCosts`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatcher.models import jobs
from svd.errors import InvalidArgument

GROUPS = {"tenant": jobs.c.tenant_id, "provider": jobs.c.provider}


async def summarize(sessions: async_sessionmaker[AsyncSession], since: datetime | None, by: str) -> list[Any]:
    """Rows of (key, jobs, estimated, actual, credits) for jobs created since `since`, largest actual cost first."""
    column = GROUPS.get(by or "tenant")
    if column is None:
        raise InvalidArgument(f"by must be one of: {', '.join(GROUPS)} (got {by!r})")
    actual = func.coalesce(func.sum(jobs.c.actual_cost_usd), 0)
    query = (
        select(
            column.label("key"),
            func.count().label("jobs"),
            func.coalesce(func.sum(jobs.c.estimated_cost_usd), 0).label("estimated"),
            actual.label("actual"),
            func.coalesce(func.sum(jobs.c.credits_consumed), 0).label("credits"),
        )
        .group_by(column)
        .order_by(actual.desc(), column)
    )
    if since is not None:
        query = query.where(jobs.c.created_at >= since)
    async with sessions() as session:
        return list((await session.execute(query)).all())
