"""Video-gateway use cases: submit a still to the provider once, then poll it by delayed redelivery."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from svd.bus import topology
from svd.bus.consumer import Ack, Outcome, Retry
from svd.bus.publisher import EventPublisher
from svd.db import transaction
from svd.ids import message_id
from svd.storage import ObjectStore
from svd.telemetry import tracer
from svd.timeutil import utcnow
from video_gateway.models import submissions
from video_gateway.motion import motion_prompt
from video_gateway.polling import PollSchedule
from video_gateway.providers.base import ProviderError, SubmitRequest, TaskState, VideoProvider

log = logging.getLogger(__name__)
_tracer = tracer("video-gateway")

PROVIDER_ENUM = {"runway": c.VIDEO_PROVIDER_RUNWAY, "kling": c.VIDEO_PROVIDER_KLING}


@dataclass
class Gateway:
    sessions: async_sessionmaker[AsyncSession]
    providers: dict[int, VideoProvider]
    primary: int | None
    store: ObjectStore
    publisher: EventPublisher
    schedule: PollSchedule
    still_url_ttl_s: int

    async def still_ready(self, event: pipeline_pb2.StillReady) -> Outcome:
        ref = event.ref
        with _tracer.start_as_current_span("video_gateway.submit") as span:
            span.set_attribute("social_video.job_id", ref.job_id)
            async with self.sessions() as session:
                existing = (
                    await session.execute(
                        select(submissions).where(submissions.c.job_id == ref.job_id, submissions.c.run == ref.run)
                    )
                ).first()
            if existing is None:
                if self.primary is None:
                    await self._fail(
                        ref,
                        c.JOB_STEP_SUBMITTING,
                        "no video provider is configured (set RUNWAY_API_KEY or FAL_API_KEY)",
                    )
                    return Ack()
                provider = self.providers[self.primary]
                prompt = motion_prompt(event.spec.content_type, event.spec.platform, event.spec.reviewer_feedback)
                image_url = await self.store.presigned_get(event.still_key, self.still_url_ttl_s)
                await self._progress(ref, c.JOB_STEP_SUBMITTING, 0, "Submitting to the video provider")
                try:
                    task_id = await provider.submit(
                        SubmitRequest(image_url, prompt, event.spec.duration_seconds, event.spec.aspect_ratio)
                    )
                except ProviderError as exc:
                    await self._fail(ref, c.JOB_STEP_SUBMITTING, exc.message)
                    return Ack()
                async with transaction(self.sessions) as session:
                    await session.execute(
                        pg_insert(submissions)
                        .values(
                            job_id=ref.job_id,
                            run=ref.run,
                            provider=provider.name,
                            provider_job_id=task_id,
                            motion_prompt=prompt,
                            submitted_at=utcnow(),
                        )
                        .on_conflict_do_nothing()
                    )
                async with self.sessions() as session:
                    existing = (
                        await session.execute(
                            select(submissions).where(submissions.c.job_id == ref.job_id, submissions.c.run == ref.run)
                        )
                    ).one()
            span.set_attribute("social_video.provider_job_id", existing.provider_job_id)
            await self._announce(event, existing)
        return Ack()

    async def _announce(self, event: pipeline_pb2.StillReady, row: Any) -> None:
        provider = PROVIDER_ENUM[row.provider]
        submitted = pipeline_pb2.VideoSubmitted(
            ref=event.ref, provider=provider, provider_job_id=row.provider_job_id, motion_prompt=row.motion_prompt
        )
        submitted.submitted_at.FromDatetime(row.submitted_at.astimezone(UTC))
        await self.publisher.publish(
            topology.SUBMITTED, submitted, message_id(event.ref.job_id, "submitted", event.ref.run)
        )
        poll = pipeline_pb2.VideoPoll(
            ref=event.ref,
            spec=event.spec,
            provider=provider,
            provider_job_id=row.provider_job_id,
            motion_prompt=row.motion_prompt,
            still_key=event.still_key,
            submitted_at=submitted.submitted_at,
        )
        await self.publisher.publish(topology.POLL, poll, message_id(event.ref.job_id, "poll", event.ref.run))

    async def poll(self, event: pipeline_pb2.VideoPoll, num_delivered: int) -> Outcome:
        ref = event.ref
        elapsed = (datetime.now(UTC) - event.submitted_at.ToDatetime(tzinfo=UTC)).total_seconds()
        if num_delivered == 1 and (wait := self.schedule.wait_before_first_check(elapsed)) > 0:
            return Retry(wait)
        check = self.schedule.check_number(num_delivered)
        provider = self.providers.get(event.provider)
        if provider is None:
            await self._fail(ref, c.JOB_STEP_POLLING, f"provider {event.provider} is no longer configured", event)
            return Ack()
        with _tracer.start_as_current_span("video_gateway.poll") as span:
            span.set_attribute("social_video.job_id", ref.job_id)
            span.set_attribute("social_video.poll_check", check)
            try:
                status = await provider.status(event.provider_job_id)
            except ProviderError as exc:
                if not exc.retryable:
                    await self._fail(ref, c.JOB_STEP_POLLING, exc.message, event)
                    return Ack()
                if self.schedule.exhausted(check):
                    return await self._time_out(event, provider, check)
                return Retry(exc.retry_after_s or self.schedule.interval_s, exc.message)
            span.set_attribute("social_video.provider_state", status.state.value)
        match status.state:
            case TaskState.SUCCEEDED:
                ready = pipeline_pb2.VideoReady(
                    ref=ref,
                    spec=event.spec,
                    provider=event.provider,
                    provider_job_id=event.provider_job_id,
                    motion_prompt=event.motion_prompt,
                    output_urls=status.output_urls,
                    still_key=event.still_key,
                )
                await self.publisher.publish(topology.READY, ready, message_id(ref.job_id, "ready", ref.run))
                return Ack()
            case TaskState.FAILED:
                reason = f"provider task failed: {status.failure or 'no reason given'}"
                if status.failure_code:
                    reason += f" ({status.failure_code})"
                await self._fail(ref, c.JOB_STEP_POLLING, reason, event)
                return Ack()
            case TaskState.CANCELLED:
                await self._fail(ref, c.JOB_STEP_POLLING, "provider task was cancelled", event)
                return Ack()
        if self.schedule.exhausted(check):
            return await self._time_out(event, provider, check)
        await self._progress(ref, c.JOB_STEP_POLLING, int(status.progress * 100), f"Animating ({status.state.value})")
        return Retry(self.schedule.interval_s)

    async def _time_out(self, event: pipeline_pb2.VideoPoll, provider: VideoProvider, checks: int) -> Outcome:
        log.warning("provider job %s (%s) timed out after %d checks", event.provider_job_id, provider.name, checks)
        try:
            await provider.cancel(event.provider_job_id)
        except ProviderError as exc:
            log.warning("cancelling timed-out provider job %s failed: %s", event.provider_job_id, exc.message)
        await self._fail(
            event.ref,
            c.JOB_STEP_POLLING,
            f"provider job {event.provider_job_id} ({provider.name}) not finished after {checks} checks; "
            "it can be retried manually",
            event,
        )
        return Ack()

    async def _progress(self, ref: pipeline_pb2.JobRef, step: int, percent: int, label: str) -> None:
        progress = pipeline_pb2.VideoProgress(ref=ref, step=step, percent=percent, label=label)
        await self.publisher.publish(
            topology.PROGRESS, progress, message_id(ref.job_id, f"progress.{step}.{percent}", ref.run)
        )

    async def _fail(
        self, ref: pipeline_pb2.JobRef, phase: int, reason: str, poll: pipeline_pb2.VideoPoll | None = None
    ) -> None:
        failed = pipeline_pb2.VideoFailed(
            ref=ref,
            phase=phase,
            reason=reason,
            provider=poll.provider if poll else 0,
            provider_job_id=poll.provider_job_id if poll else "",
        )
        await self.publisher.publish(topology.FAILED, failed, message_id(ref.job_id, "failed", ref.run))
