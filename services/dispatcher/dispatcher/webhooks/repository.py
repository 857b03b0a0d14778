"""Webhook persistence: endpoints, the outbox, deliveries and attempts.

Work is claimed with `FOR UPDATE SKIP LOCKED`, so any number of dispatcher replicas share it without handing one
row to two of them: events are fanned out under their row locks, and a delivery is leased for one attempt (its
`leased_until` and `next_attempt_at` move past the attempt's timeout, so a replica that dies mid-attempt leaves it
to be claimed again once the lease ends — at least once, never lost). Claims are serialised by a transaction-level
advisory lock, so the per-endpoint bound on attempts in flight holds across replicas.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, literal, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher.models import SCHEMA
from dispatcher.webhooks.models import attempts, deliveries, endpoints, events
from svd.timeutil import utcnow

CLAIM_LOCK = 0x77686B73  # "whks": serialises delivery claims across replicas

_CLAIM = text(
    f"""
    WITH pick AS (
        SELECT d.delivery_id
        FROM "{SCHEMA}".webhook_endpoints e
        CROSS JOIN LATERAL (
            -- A leased delivery's next attempt is its lease's end: only rows due later can be leased (an index range).
            SELECT count(*) AS n FROM "{SCHEMA}".webhook_deliveries f
            WHERE f.endpoint_id = e.endpoint_id AND f.status = 'pending' AND f.next_attempt_at > :now
                AND f.leased_until > :now
        ) busy
        CROSS JOIN LATERAL (
            SELECT delivery_id, next_attempt_at FROM "{SCHEMA}".webhook_deliveries d
            WHERE d.endpoint_id = e.endpoint_id AND d.status = 'pending' AND d.next_attempt_at <= :now
            ORDER BY d.next_attempt_at
            LIMIT GREATEST(:per_endpoint - busy.n, 0)
        ) d
        WHERE e.enabled
        ORDER BY d.next_attempt_at
        LIMIT :batch
    ), locked AS (
        SELECT delivery_id FROM "{SCHEMA}".webhook_deliveries
        WHERE delivery_id IN (SELECT delivery_id FROM pick)
        FOR UPDATE SKIP LOCKED
    )
    UPDATE "{SCHEMA}".webhook_deliveries w
    SET leased_until = :lease_until, next_attempt_at = :lease_until
    FROM locked, "{SCHEMA}".webhook_endpoints e
    WHERE w.delivery_id = locked.delivery_id AND e.endpoint_id = w.endpoint_id
        AND w.status = 'pending' AND w.next_attempt_at <= :now
    RETURNING w.delivery_id, w.endpoint_id, w.tenant_id, w.job_id, w.event_type, w.payload, w.trace_id,
        w.occurred_at, w.attempts, e.url, e.secret, e.previous_secret, e.previous_secret_expires_at
    """
)

# Batches travel as one JSON document each (json.dumps is C; psycopg would dump arrays element by element in Python),
# so each statement's text is the same whatever the batch size, and is prepared once.
_RECORD = text(
    f"""
    WITH result AS (
        SELECT * FROM json_to_recordset(CAST(:rows AS json)) AS r(
            delivery_id text, status text, next_at timestamptz, at timestamptz, http_status int, latency_s float8,
            error text, excerpt text)
    ), updated AS (
        UPDATE "{SCHEMA}".webhook_deliveries d
        SET status = r.status, attempts = d.attempts + 1, next_attempt_at = COALESCE(r.next_at, d.next_attempt_at),
            leased_until = NULL, updated_at = r.at
        FROM result r WHERE d.delivery_id = r.delivery_id
        RETURNING d.delivery_id
    )
    INSERT INTO "{SCHEMA}".webhook_attempts
        (delivery_id, number, at, http_status, latency_s, error, response_excerpt)
    SELECT r.delivery_id,
        1 + COALESCE((SELECT max(a.number) FROM "{SCHEMA}".webhook_attempts a WHERE a.delivery_id = r.delivery_id), 0),
        r.at, r.http_status, r.latency_s, r.error, r.excerpt
    FROM result r JOIN updated u ON u.delivery_id = r.delivery_id
    """
)
_INSERT_DELIVERIES = text(
    f"""
    INSERT INTO "{SCHEMA}".webhook_deliveries
        (delivery_id, event_id, endpoint_id, tenant_id, job_id, event_type, payload, trace_id, occurred_at, status,
         attempts, next_attempt_at, created_at, updated_at)
    SELECT delivery_id, event_id, endpoint_id, tenant_id, job_id, event_type, payload, trace_id, occurred_at,
        'pending', 0, :now, :now, :now
    FROM json_to_recordset(CAST(:rows AS json)) AS r(
        delivery_id text, event_id bigint, endpoint_id text, tenant_id text, job_id text, event_type text,
        payload text, trace_id text, occurred_at timestamptz)
    """
)
_ENABLED_ENDPOINTS = text(
    f'SELECT endpoint_id, tenant_id, event_types FROM "{SCHEMA}".webhook_endpoints '
    "WHERE tenant_id = ANY(CAST(:tenants AS text[])) AND enabled"
)
_MARK_FANNED = text(
    f'UPDATE "{SCHEMA}".webhook_events SET fanned_at = :at WHERE event_id = ANY(CAST(:ids AS bigint[]))'
)
_ANSWERED = text(
    f'UPDATE "{SCHEMA}".webhook_endpoints SET failing_since = NULL '
    "WHERE endpoint_id = ANY(CAST(:ids AS text[])) AND failing_since IS NOT NULL"
)
_FAILING = text(
    f'UPDATE "{SCHEMA}".webhook_endpoints SET failing_since = :at '
    "WHERE endpoint_id = ANY(CAST(:ids AS text[])) AND failing_since IS NULL"
)


def _json_rows(rows: Sequence[dict[str, Any]]) -> str:
    texts: dict[int, str] = {}  # rows share their datetimes (an event's time, the batch's): each written once

    def value(value: Any) -> str:
        if isinstance(value, datetime):
            text = texts.get(id(value))
            if text is None:
                text = texts[id(value)] = value.isoformat()
            return text
        raise TypeError(f"{type(value).__name__} cannot go into a batch")

    return json.dumps(rows, default=value, separators=(",", ":"))


# --- endpoints ------------------------------------------------------------------------------------------------


async def insert_endpoint(session: AsyncSession, values: dict[str, Any]) -> Any:
    now = utcnow()
    statement = insert(endpoints).values(created_at=now, updated_at=now, **values).returning(endpoints)
    return (await session.execute(statement)).one()


async def endpoint(session: AsyncSession, endpoint_id: str, *, lock: bool = False) -> Any | None:
    query = select(endpoints).where(endpoints.c.endpoint_id == endpoint_id)
    return (await session.execute(query.with_for_update() if lock else query)).first()


async def update_endpoint(session: AsyncSession, endpoint_id: str, **values: Any) -> Any:
    statement = (
        update(endpoints)
        .where(endpoints.c.endpoint_id == endpoint_id)
        .values(updated_at=utcnow(), **values)
        .returning(endpoints)
    )
    return (await session.execute(statement)).one()


async def delete_endpoint(session: AsyncSession, endpoint_id: str) -> None:
    await session.execute(delete(endpoints).where(endpoints.c.endpoint_id == endpoint_id))


async def list_endpoints(
    session: AsyncSession, tenant_id: str, limit: int, after: tuple[datetime, str] | None
) -> list[Any]:
    conditions = [endpoints.c.tenant_id == tenant_id] if tenant_id else []
    if after is not None:
        key = tuple_(endpoints.c.created_at, endpoints.c.endpoint_id)
        conditions.append(key > tuple_(literal(after[0]), literal(after[1])))
    query = (
        select(endpoints)
        .where(and_(literal(True), *conditions))
        .order_by(endpoints.c.created_at, endpoints.c.endpoint_id)
        .limit(limit)
    )
    return list((await session.execute(query)).all())


async def enabled_endpoints_of(session: AsyncSession, tenant_ids: Sequence[str]) -> list[Any]:
    """(endpoint_id, tenant_id, event_types) of the tenants' enabled endpoints."""
    return list((await session.execute(_ENABLED_ENDPOINTS, {"tenants": list(tenant_ids)})).all())


# --- the outbox -----------------------------------------------------------------------------------------------


async def claim_events(session: AsyncSession, now: datetime, limit: int) -> list[Any]:
    """Due events not fanned out yet, oldest first, locked for this transaction (others skip them)."""
    query = (
        select(events)
        .where(events.c.fanned_at.is_(None), events.c.available_at <= now)
        .order_by(events.c.available_at, events.c.event_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(query)).all())


async def last_progress_sent(session: AsyncSession, job_ids: Sequence[str]) -> dict[str, datetime]:
    """When each job's latest job.progress was fanned out."""
    query = (
        select(events.c.job_id, func.max(events.c.fanned_at))
        .where(events.c.type == "job.progress", events.c.job_id.in_(job_ids), events.c.fanned_at.is_not(None))
        .group_by(events.c.job_id)
    )
    return {job_id: at for job_id, at in (await session.execute(query)).all()}


async def mark_fanned(session: AsyncSession, event_ids: Sequence[int], at: datetime) -> None:
    if event_ids:
        await session.execute(_MARK_FANNED, {"ids": list(event_ids), "at": at})


async def postpone(session: AsyncSession, event_id: int, until: datetime) -> None:
    await session.execute(update(events).where(events.c.event_id == event_id).values(available_at=until))


async def insert_event(session: AsyncSession, values: dict[str, Any]) -> Any:
    return (await session.execute(insert(events).values(**values).returning(events))).one()


# --- deliveries -----------------------------------------------------------------------------------------------


async def insert_deliveries(session: AsyncSession, rows: list[dict[str, Any]], now: datetime) -> None:
    """New deliveries, pending and due `now`: each row names its delivery_id, event_id, endpoint_id, tenant_id,
    job_id, event_type, payload, trace_id and occurred_at."""
    if rows:
        await session.execute(_INSERT_DELIVERIES, {"rows": _json_rows(rows), "now": now})


async def claim_deliveries(
    session: AsyncSession, now: datetime, lease_until: datetime, per_endpoint: int, batch: int
) -> list[Any]:
    """Lease up to `batch` due deliveries, at most `per_endpoint` in flight per endpoint, oldest due first."""
    await session.execute(select(func.pg_advisory_xact_lock(CLAIM_LOCK)))
    result = await session.execute(
        _CLAIM, {"now": now, "lease_until": lease_until, "per_endpoint": per_endpoint, "batch": batch}
    )
    return list(result.all())


async def record_attempts(session: AsyncSession, results: Sequence[dict[str, Any]]) -> None:
    """Persist finished attempts and move their deliveries on, in one statement."""
    if not results:
        return
    await session.execute(_RECORD, {"rows": _json_rows(results)})


async def delivery(session: AsyncSession, delivery_id: str, *, lock: bool = False) -> Any | None:
    query = select(deliveries).where(deliveries.c.delivery_id == delivery_id)
    return (await session.execute(query.with_for_update() if lock else query)).first()


async def list_deliveries(
    session: AsyncSession,
    tenant_id: str,
    endpoint_id: str,
    job_id: str,
    status: str,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[Any]:
    conditions = []
    for column, value in (
        (deliveries.c.tenant_id, tenant_id),
        (deliveries.c.endpoint_id, endpoint_id),
        (deliveries.c.job_id, job_id),
        (deliveries.c.status, status),
    ):
        if value:
            conditions.append(column == value)
    if start is not None:
        conditions.append(deliveries.c.created_at >= start)
    if end is not None:
        conditions.append(deliveries.c.created_at < end)
    if after is not None:
        key = tuple_(deliveries.c.created_at, deliveries.c.delivery_id)
        conditions.append(key < tuple_(literal(after[0]), literal(after[1])))
    query = (
        select(deliveries)
        .where(and_(literal(True), *conditions))
        .order_by(deliveries.c.created_at.desc(), deliveries.c.delivery_id.desc())
        .limit(limit)
    )
    return list((await session.execute(query)).all())


async def attempts_of(session: AsyncSession, delivery_ids: Sequence[str]) -> dict[str, list[Any]]:
    query = select(attempts).where(attempts.c.delivery_id.in_(delivery_ids)).order_by(attempts.c.attempt_id)
    found: dict[str, list[Any]] = {}
    for row in (await session.execute(query)).all():
        found.setdefault(row.delivery_id, []).append(row)
    return found


async def requeue(session: AsyncSession, delivery_id: str, at: datetime) -> Any:
    """Send a delivery again from the start of the schedule (its attempts so far stay on record)."""
    statement = (
        update(deliveries)
        .where(deliveries.c.delivery_id == delivery_id)
        .values(status="pending", attempts=0, next_attempt_at=at, leased_until=None, updated_at=at)
        .returning(deliveries)
    )
    return (await session.execute(statement)).one()


async def attempt_count(session: AsyncSession, delivery_id: str) -> int:
    query = select(func.count()).select_from(attempts).where(attempts.c.delivery_id == delivery_id)
    return int((await session.execute(query)).scalar_one())


# --- endpoint health and retention ----------------------------------------------------------------------------


async def note_outcomes(session: AsyncSession, succeeded: Sequence[str], failed: Sequence[str], at: datetime) -> None:
    """An answer clears an endpoint's failure streak; a failed attempt starts one (if none is running)."""
    if succeeded:
        await session.execute(_ANSWERED, {"ids": list(succeeded)})
    if failed:
        await session.execute(_FAILING, {"ids": list(failed), "at": at})


async def failing_endpoints(session: AsyncSession, failing_before: datetime) -> list[Any]:
    """Enabled endpoints failing since before `failing_before` that still have deliveries waiting for them."""
    waiting = select(deliveries.c.delivery_id).where(
        deliveries.c.endpoint_id == endpoints.c.endpoint_id, deliveries.c.status == "pending"
    )
    query = select(endpoints).where(endpoints.c.enabled, endpoints.c.failing_since < failing_before, waiting.exists())
    return list((await session.execute(query)).all())


async def disable_failing(
    session: AsyncSession, endpoint_ids: Sequence[str], failing_before: datetime, reason: str
) -> list[Any]:
    """Disable those of `endpoint_ids` still enabled and failing since before `failing_before`."""
    statement = (
        update(endpoints)
        .where(
            endpoints.c.endpoint_id.in_(endpoint_ids), endpoints.c.enabled, endpoints.c.failing_since < failing_before
        )
        .values(enabled=False, disabled_reason=reason, updated_at=utcnow())
        .returning(endpoints)
    )
    return list((await session.execute(statement)).all())


async def prune(session: AsyncSession, before: datetime, limit: int) -> int:
    """Forget up to `limit` ended deliveries (with their attempts) and fanned-out events older than `before`."""
    old = (
        select(deliveries.c.delivery_id)
        .where(deliveries.c.status != "pending", deliveries.c.updated_at < before)
        .limit(limit)
    )
    removed = await session.execute(delete(deliveries).where(deliveries.c.delivery_id.in_(old)))
    old_events = (
        select(events.c.event_id).where(events.c.fanned_at.is_not(None), events.c.fanned_at < before).limit(limit)
    )
    await session.execute(delete(events).where(events.c.event_id.in_(old_events)))
    return int(removed.rowcount or 0)  # type: ignore[attr-defined]
