"""From the outbox to deliveries: each due event becomes one delivery per endpoint of its tenant that wants it.

Runs in short transactions on any replica (events are claimed with SKIP LOCKED). The body is rendered here, once,
so every attempt sends the same bytes under the same `webhook-id`. `job.progress` is coalesced: a job's progress
event due less than `progress_interval_s` after its previous one is postponed to then (the trigger keeps updating
the postponed row, so the newest progress is what goes), and a terminal event drops a pending one.
`job.succeeded` is given presigned URLs of the video and its poster and the video's size, from the object store;
if the store is down the event waits and is tried again.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatcher.webhooks import events as payloads
from dispatcher.webhooks import repository as repo
from dispatcher.webhooks.domain import wants
from svd.db import transaction
from svd.errors import NotFound, Unavailable
from svd.keys import poster_key
from svd.storage import ObjectStore
from svd.timeutil import utcnow

log = logging.getLogger(__name__)

BATCH = 500
PER_DELIVERY_BODY = frozenset({"post.status_changed"})  # its `eventId` is the delivery's id
STORE_RETRY_S = 10.0

MediaLookup = Callable[[dict[str, Any]], Awaitable[payloads.Media]]


def new_delivery_id() -> str:
    """`msg_` and 24 URL-safe random characters (144 bits)."""
    return f"msg_{secrets.token_urlsafe(18)}"


def media_lookup(store: ObjectStore, url_ttl_s: int) -> MediaLookup:
    """Where a succeeded job's video is: presigned URLs (through the CDN when configured) and its size."""

    async def lookup(snapshot: dict[str, Any]) -> payloads.Media:
        key = snapshot.get("object_key") or ""
        if not key:
            return payloads.Media()
        try:
            size = (await store.head(key)).size
        except NotFound:
            size = 0
        video = await store.presigned_get(key, url_ttl_s, via_cdn=True)
        poster = await store.presigned_get(poster_key(key), url_ttl_s, via_cdn=True)
        return payloads.Media(video, poster, size)

    return lookup


class Fanout:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], media: MediaLookup, progress_interval_s: float
    ) -> None:
        self._sessions = sessions
        self._media = media
        self._progress_interval = timedelta(seconds=progress_interval_s)

    async def run_once(self) -> int:
        """Fan out one batch of due events; how many events were handled (fanned out or postponed)."""
        async with transaction(self._sessions) as session:
            now = utcnow()
            claimed = await repo.claim_events(session, now, BATCH)
            if not claimed:
                return 0
            progress_jobs = [e.job_id for e in claimed if e.type == "job.progress"]
            last_sent = await repo.last_progress_sent(session, progress_jobs) if progress_jobs else {}
            tenants = sorted({e.tenant_id for e in claimed})
            by_tenant: dict[str, list[Any]] = {}
            for endpoint in await repo.enabled_endpoints_of(session, tenants):
                by_tenant.setdefault(endpoint.tenant_id, []).append(endpoint)
            fanned: list[int] = []
            rows: list[dict[str, Any]] = []
            for event in claimed:
                if event.type == "job.progress" and event.job_id in last_sent:
                    ready_at = last_sent[event.job_id] + self._progress_interval
                    if ready_at > now:
                        await repo.postpone(session, event.event_id, ready_at)
                        continue
                try:
                    deliveries = await self._deliveries(event, by_tenant.get(event.tenant_id, []))
                except Exception:  # one event that cannot be rendered must not hold back the others
                    log.exception(
                        "webhooks: event %s (%s) could not be rendered; retrying later", event.event_id, event.type
                    )
                    deliveries = None
                if deliveries is None:
                    await repo.postpone(session, event.event_id, now + timedelta(seconds=STORE_RETRY_S))
                    continue
                rows.extend(deliveries)
                fanned.append(event.event_id)
            await repo.insert_deliveries(session, rows, now)
            await repo.mark_fanned(session, fanned, now)
            return len(claimed)

    async def _deliveries(self, event: Any, endpoints: list[Any]) -> list[dict[str, Any]] | None:
        """The delivery rows of one event (None: its media could not be looked up now)."""
        targets = [
            e
            for e in endpoints
            if (event.endpoint_id is None or e.endpoint_id == event.endpoint_id) and wants(e.event_types, event.type)
        ]
        if not targets:
            return []
        media = None
        if event.type == "job.succeeded":
            try:
                media = await self._media(event.snapshot)
            except Unavailable as exc:
                log.warning("webhooks: media of job %s not available yet (%s); retrying", event.job_id, exc)
                return None
        rows = []
        # A job event's body is the same for every endpoint (a post event names its delivery): render it once.
        shared = (
            None
            if event.type in PER_DELIVERY_BODY
            else payloads.render(event.type, event.occurred_at, event.snapshot, "", media)
        )
        for endpoint in targets:
            delivery_id = new_delivery_id()
            rows.append(
                {
                    "delivery_id": delivery_id,
                    "event_id": event.event_id,
                    "endpoint_id": endpoint.endpoint_id,
                    "tenant_id": event.tenant_id,
                    "job_id": event.job_id,
                    "event_type": event.type,
                    "payload": shared
                    or payloads.render(event.type, event.occurred_at, event.snapshot, delivery_id, media),
                    "trace_id": str(event.snapshot.get("trace_id") or ""),
                    "occurred_at": event.occurred_at,
                }
            )
        return rows
