"""Poll use case: one check of a provider task per delivery of the job's `video.poll` message.

Nothing is held in memory between checks: the message waits in JetStream (negative-acknowledged with the delay until
the next check) and the run's state is in `submissions`. Checks follow the schedule anchored at the submission time
(`polling.PollSchedule`); pending/running → nack until the next check; a 429 → nack for `Retry-After`; a transient
error → the next tick; SUCCEEDED → `video.ready` at once; FAILED / CANCELLED → `video.failed` with the provider's
reason; no answer after the last check → cancel the provider task and `video.failed` with reason `timeout`.
A retried job resumes a task of an earlier run (`resumed_from_run`): its submission is carried over to the new run and
polled as if just submitted, so a task that finished meanwhile is fetched, not paid again.
Status and cancel calls use the key that submitted the task (recorded with the submission, returned by the check
counter at no extra query): the task lives in that key's provider organisation.
Every outcome is published before the run's row ends, so a crash in between only repeats a deduplicated publish.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from svd.bus.consumer import Ack, Outcome, Reject, Retry
from svd.telemetry import metrics, tracer
from video_gateway.models import CANCELLED, FAILED, SUCCEEDED, TIMED_OUT
from video_gateway.outbound import PROVIDER_NAME, Outbound
from video_gateway.polling import ErrorKind as LoopError
from video_gateway.polling import PollSchedule
from video_gateway.pooled import PooledProvider
from video_gateway.providers.base import ErrorKind, ProviderError, TaskState, TaskStatus
from video_gateway.repository import Submissions

log = logging.getLogger(__name__)
_tracer = tracer("video-gateway")

_LOOP_ERRORS = {ErrorKind.TRANSIENT: LoopError.TRANSIENT, ErrorKind.RATE_LIMITED: LoopError.RATE_LIMITED}


class Poller:
    def __init__(
        self,
        submissions: Submissions,
        providers: dict[str, PooledProvider],
        outbound: Outbound,
        schedule: PollSchedule,
    ) -> None:
        self._submissions = submissions
        self._providers = providers
        self._outbound = outbound
        self._schedule = schedule

    def _elapsed(self, event: pipeline_pb2.VideoPoll, started_at: datetime | None = None) -> float:
        """The schedule's clock: since submission, or (once the provider started the task) since its start."""
        now = datetime.now(UTC)
        since_submit = (now - event.submitted_at.ToDatetime(tzinfo=UTC)).total_seconds()
        since_start = None if started_at is None else (now - started_at).total_seconds()
        return self._schedule.elapsed_since(since_submit, since_start)

    async def poll(self, event: pipeline_pb2.VideoPoll) -> Outcome:
        ref = event.ref
        if event.resumed_from_run:
            resumed = await self._resume(event)
            if resumed is None:
                return Ack()
            event = resumed
        elapsed = self._elapsed(event)
        if (wait := self._schedule.first_due_in(elapsed)) > 0:
            return Retry(wait)
        counted = await self._submissions.count_check(ref.job_id, ref.run)
        if counted is None:  # cancelled, already finished, or never recorded here
            row = await self._submissions.get(ref.job_id, ref.run)
            return Ack() if row is not None else Reject(f"no submission of job {ref.job_id} run {ref.run}")
        check = self._schedule.check_due(self._elapsed(event, counted.started_at), counted.number)
        provider = self._providers.get(PROVIDER_NAME.get(event.provider, ""))
        if provider is None:
            return await self._end(event, FAILED, f"video provider {event.provider} is no longer configured")
        with _tracer.start_as_current_span("video_gateway.poll") as span:
            span.set_attribute("social_video.job_id", ref.job_id)
            span.set_attribute("social_video.provider_job_id", event.provider_job_id)
            span.set_attribute("social_video.poll_check", check)
            try:
                # With the key that submitted the task: it lives in that key's organisation.
                status = await provider.status(event.provider_job_id, ref.job_id, counted.key_id)
            except ProviderError as exc:
                span.set_attribute("social_video.provider_error", exc.kind.value)
                return await self._after_error(event, provider, check, exc, counted.key_id, counted.started_at)
            span.set_attribute("social_video.provider_state", status.detail or status.state.value)
        return await self._after_status(event, provider, check, status, counted.key_id, counted.started_at)

    async def _resume(self, event: pipeline_pb2.VideoPoll) -> pipeline_pb2.VideoPoll | None:
        """A retried job resumes the task of an earlier run: that run's submission is carried over to this one (once)
        and the still and overlay it animates go on to media-store. None when there is no such task (the job fails)."""
        ref = event.ref
        row = await self._submissions.resume(ref.job_id, ref.run, event.resumed_from_run)
        if row is None:
            reason = f"run {event.resumed_from_run} of job {ref.job_id} made no provider task to resume"
            await self._outbound.failed(ref, c.JOB_STEP_POLLING, reason, event.provider, event.provider_job_id)
            return None
        resumed = pipeline_pb2.VideoPoll()
        resumed.CopyFrom(event)
        resumed.still_key, resumed.overlay_key = row.still_key, row.overlay_key
        resumed.provider_job_id = row.provider_job_id
        return resumed

    async def _after_status(
        self,
        event: pipeline_pb2.VideoPoll,
        provider: PooledProvider,
        check: int,
        status: TaskStatus,
        key_id: int | None,
        started_at: datetime | None,
    ) -> Outcome:
        match status.state:
            case TaskState.SUCCEEDED:
                if not status.output_urls:
                    return await self._end(event, FAILED, "the provider reported success without an output URL")
                await self._outbound.ready(event, status.output_urls)
                await self._submissions.finish(event.ref.job_id, event.ref.run, SUCCEEDED)
                metrics.step_duration.record(self._elapsed(event), {"step": "polling"})  # submitted → rendered
                return Ack()
            case TaskState.FAILED:
                reason = f"provider task failed: {status.failure or 'no reason given'}"
                if status.failure_code:
                    reason += f" ({status.failure_code})"
                return await self._end(event, FAILED, reason)
            case TaskState.CANCELLED:
                return await self._end(event, CANCELLED, "the provider task was cancelled")
        if started_at is None:
            if status.state is TaskState.PENDING:  # still in the provider's own queue: no check counts yet
                await self._waiting(event, provider.name, status)
                if self._schedule.waited_too_long(self._elapsed(event)):
                    return await self._queue_time_out(event, provider, key_id)
                return Retry(self._schedule.next_queue_check())
            started_at = await self._submissions.mark_started(event.ref.job_id, event.ref.run)
            check = 1  # the window starts with the provider's start
        if self._schedule.exhausted(check):
            return await self._time_out(event, provider, check, key_id)
        if status.progress > 0:  # the dispatcher shows "polling" from video.submitted on; only real progress is news
            label = f"Animating ({status.detail or status.state.value})"
            await self._outbound.progress(event.ref, c.JOB_STEP_POLLING, int(status.progress * 100), label)
        else:
            await self._waiting(event, provider.name, status)
        return Retry(self._schedule.wait_for(check + 1, self._elapsed(event, started_at)))

    async def _waiting(self, event: pipeline_pb2.VideoPoll, provider: str, status: TaskStatus) -> None:
        """Back-pressure made visible: a task waiting in the provider's own queue (Runway THROTTLED or PENDING, fal
        IN_QUEUE with its position) says so in the job's label, once per distinct state, and each such check is
        counted (`svd.provider.waiting`, by provider and status word)."""
        word = status.detail or status.state.value
        if status.state is TaskState.PENDING:
            metrics.provider_waiting.add(1, {"provider": provider, "status": word})
            label = f"Waiting at {provider}: {word.lower().replace('_', ' ')}"
            if word == "THROTTLED":
                label += " (over the account's concurrency)"
            if status.queue_position is not None:
                label = f"Waiting at {provider}: {status.queue_position} ahead in its queue"
        else:
            label = f"Animating ({word})"
        key = f"waiting.{word}.{status.queue_position if status.queue_position is not None else ''}"
        await self._outbound.progress(event.ref, c.JOB_STEP_POLLING, 0, label, key=key)

    async def _after_error(
        self,
        event: pipeline_pb2.VideoPoll,
        provider: PooledProvider,
        check: int,
        exc: ProviderError,
        key_id: int | None,
        started_at: datetime | None,
    ) -> Outcome:
        kind = _LOOP_ERRORS.get(exc.kind)
        if kind is None:  # not found, rejected, the submitting key gone or refused: checking again cannot help
            return await self._end(event, FAILED, exc.message)
        # Before the provider was seen starting the task, an error is not late: its window has not begun.
        clock = (
            self._elapsed(event, started_at)
            if started_at is not None
            else min(self._elapsed(event), self._schedule.initial_delay_s)
        )
        delay = self._schedule.after_error(check, clock, kind, exc.retry_after_s)
        if delay is None:
            return await self._time_out(event, provider, check, key_id)
        log.info(
            "check %d of %s task %s failed (%s); next in %.1f s",
            check,
            provider.name,
            event.provider_job_id,
            exc.message,
            delay,
        )
        return Retry(delay, exc.message)

    async def _time_out(
        self, event: pipeline_pb2.VideoPoll, provider: PooledProvider, checks: int, key_id: int | None
    ) -> Outcome:
        log.warning(
            "timeout: %s task %s of job %s unfinished after %d checks; cancelling it (retry it manually if wanted)",
            provider.name,
            event.provider_job_id,
            event.ref.job_id,
            checks,
        )
        try:
            await provider.cancel(event.provider_job_id, event.ref.job_id, key_id)
        except ProviderError as exc:
            log.warning("cancelling timed-out %s task %s failed: %s", provider.name, event.provider_job_id, exc.message)
        reason = (
            f"timeout: {provider.name} task {event.provider_job_id} not finished after {checks} checks "
            f"({self._schedule.window_s:.0f} s)"
        )
        return await self._end(event, TIMED_OUT, reason)

    async def _queue_time_out(
        self, event: pipeline_pb2.VideoPoll, provider: PooledProvider, key_id: int | None
    ) -> Outcome:
        waited = self._elapsed(event)
        try:
            await provider.cancel(event.provider_job_id, event.ref.job_id, key_id)
        except ProviderError as exc:
            log.warning("cancelling queued %s task %s failed: %s", provider.name, event.provider_job_id, exc.message)
        reason = (
            f"timeout: {provider.name} task {event.provider_job_id} still waiting in the provider's queue after "
            f"{waited:.0f} s (VIDEO_POLL_QUEUE_MAX_S {self._schedule.queue_max_s:.0f})"
        )
        return await self._end(event, TIMED_OUT, reason)

    async def _end(self, event: pipeline_pb2.VideoPoll, state: str, reason: str) -> Outcome:
        await self._outbound.failed(event.ref, c.JOB_STEP_POLLING, reason, event.provider, event.provider_job_id)
        await self._submissions.finish(event.ref.job_id, event.ref.run, state, reason)
        return Ack()
