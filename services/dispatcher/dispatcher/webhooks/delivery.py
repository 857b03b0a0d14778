"""Attempts: lease due deliveries, send each once (signed, traced, measured), record what happened in batches.

At most `webhook_max_in_flight` attempts run per process and `webhook_endpoint_concurrency` per endpoint (the claim
counts the endpoint's leased deliveries across replicas), so a slow endpoint holds only its own slots and never
delays anyone else's deliveries (when nearly all slots are taken, free ones are filled within `CLAIM_TOP_UP_S`).
Results are written in batches (one statement for many attempts); a delivery whose result is never written — the
process died mid-attempt — is claimed again when its lease ends, under the same `webhook-id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import InvalidToken
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatcher.webhooks import repository as repo
from dispatcher.webhooks.domain import Verdict, after_attempt, retry_after_s, signature_headers, verdict
from dispatcher.webhooks.sender import Answer, Sender
from dispatcher.webhooks.settings import WebhookSettings
from svd.cipher import SecretCipher
from svd.db import transaction
from svd.telemetry import in_trace, metrics, tracer
from svd.timeutil import utcnow

log = logging.getLogger(__name__)
_tracer = tracer("dispatcher.webhooks")

# While more than three quarters of the slots are taken, a claim waits until a quarter are free, or until this long
# after the last claim: a claim looks at every endpoint, and a backlog would otherwise pay one per round for the
# few slots freed since.
CLAIM_TOP_UP_S = 0.1
FLUSH_BATCH = 500
FLUSH_DELAY_S = 0.02
SECRET_CACHE = 10_000


class Deliverer:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sender: Sender,
        cipher: SecretCipher | None,
        settings: WebhookSettings,
    ) -> None:
        self._sessions = sessions
        self._sender = sender
        self._cipher = cipher
        self._schedule = settings.retry_schedule
        self._per_endpoint = settings.webhook_endpoint_concurrency
        self._max_in_flight = settings.webhook_max_in_flight
        self._retry_after_max_s = settings.webhook_retry_after_max_s
        # Long enough for the attempt and for its result to be written; past it the delivery is claimed again.
        self._lease = timedelta(seconds=2 * settings.webhook_timeout_s + 5)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._results: list[dict[str, Any]] = []
        self._outcomes: list[tuple[str, bool]] = []
        self._have_results = asyncio.Event()
        self._slot_free = asyncio.Event()
        self._secrets: dict[bytes, str] = {}
        self._claim_at_free = max(1, self._max_in_flight // 4)
        self._last_claim = -CLAIM_TOP_UP_S
        self.deferred = False  # a claim was put off (the worker looks again within CLAIM_TOP_UP_S)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def slot_free(self) -> asyncio.Event:
        """Set whenever an attempt ends (the worker may claim more)."""
        return self._slot_free

    async def claim_and_start(self) -> int:
        """Lease due deliveries into the free slots and start their attempts; how many started."""
        free = self._max_in_flight - len(self._in_flight)
        clock = asyncio.get_running_loop().time()
        self.deferred = 0 < free < self._claim_at_free and clock < self._last_claim + CLAIM_TOP_UP_S
        if free <= 0 or self.deferred:
            return 0
        self._last_claim = clock
        now = utcnow()
        async with transaction(self._sessions) as session:
            claimed = await repo.claim_deliveries(session, now, now + self._lease, self._per_endpoint, free)
        for row in claimed:
            task = asyncio.create_task(self._attempt(row))
            self._in_flight.add(task)
            task.add_done_callback(self._done)
        return len(claimed)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._slot_free.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook attempt crashed", exc_info=task.exception())

    def _signing_secrets(self, row: Any, now: datetime) -> list[str]:
        tokens = [row.secret]
        if row.previous_secret is not None and row.previous_secret_expires_at and row.previous_secret_expires_at > now:
            tokens.append(row.previous_secret)
        if self._cipher is None:
            raise RuntimeError("WEBHOOK_SECRET_ENCRYPTION_KEY is not set: webhook secrets cannot be read")
        found = []
        for token in tokens:
            token = bytes(token)
            if token not in self._secrets:
                if len(self._secrets) >= SECRET_CACHE:
                    self._secrets.clear()
                self._secrets[token] = self._cipher.decrypt(token)
            found.append(self._secrets[token])
        return found

    async def _attempt(self, row: Any) -> None:
        started_at = utcnow()
        attributes = {
            "social_video.tenant_id": row.tenant_id,
            "social_video.webhook.delivery_id": row.delivery_id,
            "social_video.webhook.event_type": row.event_type,
            "social_video.webhook.attempt": row.attempts + 1,
        }
        if row.job_id:
            attributes["social_video.job_id"] = row.job_id
        with _tracer.start_as_current_span(
            "webhook.deliver", context=in_trace(row.trace_id), kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            try:
                headers = signature_headers(
                    row.delivery_id, started_at, row.payload, self._signing_secrets(row, started_at)
                )
            except (RuntimeError, ValueError, InvalidToken) as exc:  # an unreadable secret: retried (fix the KEK)
                answer = Answer(None, 0.0, f"cannot sign: {type(exc).__name__}")
            else:
                answer = await self._sender.post(row.url, row.payload, headers)
            outcome = verdict(answer.http_status, answer.refused)
            if answer.http_status is not None:
                span.set_attribute("http.response.status_code", answer.http_status)
            span.set_attribute("social_video.webhook.outcome", outcome.value)
            if outcome is not Verdict.SUCCEEDED:
                span.set_status(trace.StatusCode.ERROR, answer.error[:200])
        ended_at = utcnow()
        following = after_attempt(
            outcome,
            row.attempts + 1,
            self._schedule,
            ended_at,
            retry_after_s(answer.retry_after, ended_at),
            self._retry_after_max_s,
        )
        metrics.webhook_attempts.add(1, {"outcome": following.status if following.status != "pending" else "retry"})
        metrics.webhook_attempt_duration.record(answer.latency_s, {"outcome": outcome.value})
        if outcome is Verdict.SUCCEEDED:
            lag = (ended_at - row.occurred_at).total_seconds()
            metrics.webhook_lag.record(max(0.0, lag), {"event_type": row.event_type})
        self._results.append(
            {
                "delivery_id": row.delivery_id,
                "status": following.status,
                "next_at": following.at,
                "at": started_at,
                "http_status": answer.http_status or 0,
                "latency_s": answer.latency_s,
                "error": answer.error,
                "excerpt": answer.excerpt,
            }
        )
        self._outcomes.append((row.endpoint_id, outcome is Verdict.SUCCEEDED))
        self._have_results.set()

    async def record_forever(self, stop: asyncio.Event) -> None:
        """Write finished attempts in batches until stopped (then once more, for the last ones)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._have_results.wait(), 1.0)
            await asyncio.sleep(FLUSH_DELAY_S)  # let a burst gather into one write
            await self.flush()

    async def flush(self) -> None:
        while self._results:
            self._have_results.clear()
            batch, self._results = self._results[:FLUSH_BATCH], self._results[FLUSH_BATCH:]
            outcomes, self._outcomes = self._outcomes[: len(batch)], self._outcomes[len(batch) :]
            try:
                async with transaction(self._sessions) as session:
                    await repo.record_attempts(session, batch)
                    succeeded = sorted({endpoint for endpoint, ok in outcomes if ok})
                    failed = sorted({endpoint for endpoint, ok in outcomes if not ok} - set(succeeded))
                    await repo.note_outcomes(session, succeeded, failed, utcnow())
            except Exception:
                log.exception("webhooks: recording %d attempts failed; retrying", len(batch))
                self._results[:0], self._outcomes[:0] = batch, outcomes
                self._have_results.set()
                await asyncio.sleep(1.0)
                return

    async def drain(self, grace_s: float) -> None:
        """Let attempts in flight finish (up to `grace_s`), cancel the rest, write what finished."""
        if self._in_flight:
            _, pending = await asyncio.wait(set(self._in_flight), timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.flush()
