"""Cancel use case: `video.cancel` (the dispatcher's CancelJob, or its deadline sweeper) stops a run wherever it is.

The run is marked cancelled first, so the poll loop stops at its next delivery (it finds the run not polling and
acknowledges) and a still that has not been submitted yet never will be; then the provider task, if there is one,
is cancelled with the key that submitted it (the task lives in that key's organisation). The dispatcher ends the job
and releases its credits itself, so no `video.failed` is published.

A provider task left running costs money, so a cancel is never dropped quietly: a failure that may pass (the provider
or the database unavailable, a rate limit) is retried (`Retry`, until the job's deadline, then dead-lettered with
the reason by the consumer), and one that cannot (the provider gone from the configuration, the submitting key gone
or refused) is dead-lettered at once with its reason (`Reject`). A redelivery finds the run already cancelled and
calls the provider again — unless a later run of the job (an operator's retry) has resumed the task meanwhile: the
task is that run's now, and cancelling it (or, once finished, deleting it) would destroy what the retry fetches.
"""

from __future__ import annotations

import logging

from social_video.v1 import pipeline_pb2
from svd.bus.consumer import Ack, Outcome, Reject, Retry
from video_gateway.models import CANCELLED
from video_gateway.pooled import PooledProvider
from video_gateway.providers.base import ErrorKind, ProviderError
from video_gateway.repository import Submissions

log = logging.getLogger(__name__)

# How soon a cancel that failed transiently is tried again when the provider did not say.
RETRY_S = 5.0


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
            if before.attempt_id and not before.provider_job_id:
                # A submit stopped mid-request: if it created a task, its id was never learnt, so nothing can cancel it.
                log.warning(
                    "job %s run %d cancelled with a submit to %s of unknown outcome (attempt %s)",
                    ref.job_id,
                    ref.run,
                    before.provider,
                    before.attempt_id,
                )
            return Ack()  # nothing submitted yet (the submit cancels its own task), or it had already ended
        task = f"{before.provider} task {before.provider_job_id} of job {ref.job_id}"
        later = await self._submissions.later_run_with_task(ref.job_id, ref.run, before.provider_job_id)
        if later is not None:
            log.info("%s was resumed by run %d (a retry); not cancelling it for run %d", task, later, ref.run)
            return Ack()
        provider = self._providers.get(before.provider)
        if provider is None:
            return Reject(f"cannot cancel {task}: provider {before.provider} is not configured")
        try:
            await provider.cancel(before.provider_job_id, ref.job_id, before.key_id)
        except ProviderError as exc:
            if exc.retryable:
                log.warning("cancelling %s failed (%s); retrying", task, exc.message)
                return Retry(exc.retry_after_s or RETRY_S, f"cancelling {task}: {exc.message}")
            if exc.kind is not ErrorKind.NOT_FOUND:
                return Reject(f"cancelling {task} failed: {exc.message}")
            log.info("%s was already gone", task)  # adapters treat a finished task as cancelled; a 404 is gone
            return Ack()
        log.info("job %s: %s task %s cancelled", ref.job_id, provider.name, before.provider_job_id)
        return Ack()
