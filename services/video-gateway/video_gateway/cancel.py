"""Cancel use case: `video.cancel` (from the dispatcher's CancelJob) stops a run wherever it is.

The run is marked cancelled first, so the poll loop stops at its next delivery (it finds the run not polling and
acknowledges) and a still that has not been submitted yet never will be; then the provider task, if there is one,
is cancelled. The dispatcher ends the job and releases its credits itself, so no `video.failed` is published.
"""

from __future__ import annotations

import logging

from social_video.v1 import pipeline_pb2
from svd.bus.consumer import Ack, Outcome, Retry
from video_gateway.models import CANCELLED
from video_gateway.pooled import PooledProvider
from video_gateway.providers.base import ErrorKind, ProviderError
from video_gateway.repository import Submissions

log = logging.getLogger(__name__)


class Canceller:
    def __init__(self, submissions: Submissions, providers: dict[str, PooledProvider]) -> None:
        self._submissions = submissions
        self._providers = providers

    async def cancel(self, event: pipeline_pb2.VideoCancel) -> Outcome:
        ref = event.ref
        before, cancelled_now = await self._submissions.cancel(ref.job_id, ref.run, event.reason or "cancelled")
        if before is None:
            log.info("job %s run %d cancelled before its still reached the gateway", ref.job_id, ref.run)
            return Ack()
        if not before.provider_job_id or (before.state != CANCELLED and not cancelled_now):
            return Ack()  # nothing submitted yet (the submit cancels its own task), or it had already ended
        provider = self._providers.get(before.provider)
        if provider is None:
            log.warning("cannot cancel %s task %s: provider not configured", before.provider, before.provider_job_id)
            return Ack()
        try:
            await provider.cancel(before.provider_job_id, ref.job_id)
        except ProviderError as exc:
            if exc.retryable:
                return Retry(exc.retry_after_s or 5.0, exc.message)
            if exc.kind is not ErrorKind.NOT_FOUND:
                log.warning("cancelling %s task %s failed: %s", provider.name, before.provider_job_id, exc.message)
        log.info("job %s: %s task %s cancelled", ref.job_id, provider.name, before.provider_job_id)
        return Ack()
