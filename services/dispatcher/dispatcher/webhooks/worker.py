"""The webhook worker of one dispatcher replica: fan out the outbox, start due attempts, and look after endpoints.

It wakes when the outbox trigger notifies (`svd_webhooks`, through the process's listener) or an attempt ends, and
otherwise looks every `webhook_poll_interval_s` (retries come due without any notification); wakes that come close
together make one round (`ROUND_GATHER_S`). Every `webhook_health_interval_s` it disables endpoints that have failed
for `webhook_disable_after_s` — telling their tenant with a `notify.client` event first, under a deterministic
message id, so a crash between the two repeats the notice (deduplicated) rather than losing it — and every
`webhook_prune_interval_s` (an hour) it prunes deliveries and events past retention. Every replica runs one; they
share the work through row locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatcher.webhooks import repository as repo
from dispatcher.webhooks.delivery import CLAIM_TOP_UP_S, Deliverer
from dispatcher.webhooks.fanout import Fanout
from dispatcher.webhooks.settings import WebhookSettings
from social_video.v1 import outbound_pb2
from svd.bus import topology
from svd.bus.publisher import EventPublisher
from svd.db import transaction
from svd.telemetry import untraced
from svd.timeutil import utcnow

log = logging.getLogger(__name__)

# Rounds start at most this often: the notifications of a burst of commits and the ends of many attempts are
# gathered into one fan-out and one claim (a claim looks at every endpoint), for at most this much latency.
ROUND_GATHER_S = 0.02
FIRST_PRUNE_AFTER_S = 60.0
PRUNE_BATCH = 10_000
DRAIN_GRACE_S = 5.0


class WebhookWorker:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        fanout: Fanout,
        deliverer: Deliverer,
        publisher: EventPublisher | None,
        settings: WebhookSettings,
    ) -> None:
        self._sessions = sessions
        self._fanout = fanout
        self._deliverer = deliverer
        self._publisher = publisher
        self._settings = settings
        self.wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        finished = asyncio.Event()
        recorder = asyncio.create_task(self._deliverer.record_forever(finished))
        loop = asyncio.get_running_loop()
        next_health = loop.time()
        next_prune = loop.time() + min(FIRST_PRUNE_AFTER_S, self._settings.webhook_prune_interval_s)
        next_round = loop.time()
        try:
            while not stop.is_set():
                if (pause := next_round - loop.time()) > 0:
                    await asyncio.sleep(pause)
                next_round = loop.time() + ROUND_GATHER_S
                busy = False
                try:
                    with untraced():  # a round's queries; each attempt is traced in its job's trace
                        busy = await self._fanout.run_once() > 0
                        busy = await self._deliverer.claim_and_start() > 0 or busy
                        if loop.time() >= next_health:
                            await self.disable_failing()
                            next_health = loop.time() + self._settings.webhook_health_interval_s
                        if loop.time() >= next_prune:
                            await self.prune()
                            next_prune = loop.time() + self._settings.webhook_prune_interval_s
                except Exception:
                    log.exception("webhook worker round failed; trying again")
                    await _wait_any(stop, timeout_s=self._settings.webhook_poll_interval_s)
                    continue
                if not busy:
                    self._deliverer.slot_free.clear()
                    poll = self._settings.webhook_poll_interval_s
                    await _wait_any(
                        stop,
                        self.wake,
                        self._deliverer.slot_free,
                        timeout_s=min(poll, CLAIM_TOP_UP_S) if self._deliverer.deferred else poll,
                    )
                    self.wake.clear()
        finally:
            await self._deliverer.drain(DRAIN_GRACE_S)
            finished.set()
            await recorder

    async def disable_failing(self) -> int:
        """Disable endpoints failing for too long, after telling their tenants; how many were disabled."""
        cutoff = utcnow() - timedelta(seconds=self._settings.webhook_disable_after_s)
        days = self._settings.webhook_disable_after_s / 86400
        reason = f"disabled: every delivery failed for {days:g} days"
        async with self._sessions() as session:
            candidates = await repo.failing_endpoints(session, cutoff)
        for endpoint in candidates:
            await self._tell(endpoint, reason)
        if not candidates:
            return 0
        async with transaction(self._sessions) as session:
            disabled = await repo.disable_failing(session, [e.endpoint_id for e in candidates], cutoff, reason)
        for endpoint in disabled:
            log.warning(
                "webhook endpoint %s of tenant %s disabled: %s", endpoint.endpoint_id, endpoint.tenant_id, reason
            )
        return len(disabled)

    async def _tell(self, endpoint: Any, reason: str) -> None:
        if self._publisher is None:
            return
        since = endpoint.failing_since
        notification = outbound_pb2.ClientNotification(
            event_id=f"webhook-disabled:{endpoint.endpoint_id}:{int(since.timestamp())}",
            tenant_id=endpoint.tenant_id,
            kind="webhook_endpoint_disabled",
            title="A webhook endpoint was disabled",
            message=(
                f"Deliveries to {endpoint.url} ({endpoint.endpoint_id}) have failed since {since:%Y-%m-%d %H:%M} UTC, "
                f"so it was {reason}. Fix it, then enable it again with UpdateEndpoint."
            ),
        )
        await self._publisher.publish_json(topology.NOTIFY_CLIENT, notification, notification.event_id)

    async def prune(self) -> int:
        before = utcnow() - timedelta(days=self._settings.webhook_retention_days)
        removed = 0
        while True:
            async with transaction(self._sessions) as session:
                batch = await repo.prune(session, before, PRUNE_BATCH)
            removed += batch
            if batch < PRUNE_BATCH:
                if removed:
                    log.info("webhooks: pruned %d deliveries past retention", removed)
                return removed


async def _wait_any(stop: asyncio.Event, *events: asyncio.Event, timeout_s: float) -> None:
    waiters = [asyncio.create_task(event.wait()) for event in (stop, *events)]
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED), timeout_s)
    finally:
        for waiter in waiters:
            waiter.cancel()
