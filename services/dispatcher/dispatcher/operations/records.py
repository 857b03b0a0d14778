"""The record of operator actions (table `operator_actions`): who (API key id) did what to which target, once per
client request where the action is idempotent; actions on a job also go to that job's event log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, String, Table, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher import repository as repo
from dispatcher.models import metadata

operator_actions = Table(
    "operator_actions",
    metadata,
    Column("action_id", BigInteger, primary_key=True, autoincrement=True),
    Column("time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("key_id", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("target", String(256), nullable=False),
    Column("job_id", String(64), nullable=False, server_default=""),
    Column("request_key", String(300), unique=True),
    Column("details", JSONB, nullable=False),
)


async def record(
    session: AsyncSession,
    key_id: str,
    action: str,
    target: str,
    *,
    job_id: str = "",
    request_key: str | None = None,
    message: str = "",
    **details: Any,
) -> bool:
    """Record an action (and, with a `job_id`, log `message` in that job's event log); False when `request_key`
    was recorded before (the request is a repeat: nothing new is written)."""
    inserted = await session.execute(
        pg_insert(operator_actions)
        .values(key_id=key_id, action=action, target=target, job_id=job_id, request_key=request_key, details=details)
        .on_conflict_do_nothing(index_elements=[operator_actions.c.request_key])
        .returning(operator_actions.c.action_id)
    )
    if inserted.first() is None:
        return False
    if job_id:
        await repo.log_event(session, job_id, message or action, operator=key_id, action=action, **details)
    return True


async def actions_on(session: AsyncSession, action: str, target: str, limit: int = 100) -> list[Any]:
    """The recorded `action`s on `target`, oldest first."""
    query = (
        select(operator_actions)
        .where(operator_actions.c.action == action, operator_actions.c.target == target)
        .order_by(operator_actions.c.action_id)
        .limit(limit)
    )
    return list((await session.execute(query)).all())


async def recorded(session: AsyncSession, request_key: str) -> Any | None:
    """The action recorded for `request_key`, if any."""
    query = select(operator_actions).where(operator_actions.c.request_key == request_key)
    return (await session.execute(query)).first()
