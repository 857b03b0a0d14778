"""Dispatcher use cases: the state machine of a video job, driven by upstream and pipeline events.

Every use case is idempotent: a redelivered event finds its own earlier effects (job by source event id, holds by
idempotency key, publishes by message id) and only completes what is missing, so a crash between any two steps is
repaired by the redelivery.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatcher import domain
from dispatcher import repository as repo
from dispatcher.ports import BillingClient
from dispatcher.views import copy_dict, job_ref, video_spec
from social_video.v1 import common_pb2 as c
from social_video.v1 import outbound_pb2, pipeline_pb2, upstream_pb2
from svd.bus import topology
from svd.bus.publisher import EventPublisher
from svd.db import transaction
from svd.enums import short_name
from svd.errors import FailedPrecondition
from svd.ids import message_id, new_id
from svd.telemetry import current_trace_id, tracer
from svd.timeutil import utcnow

log = logging.getLogger(__name__)
_tracer = tracer("dispatcher")

DEFAULT_BRAND = pipeline_pb2.BrandStyle(
    primary_color="#1F2A44", secondary_color="#3E5C9A", accent_color="#F2A541", tone_of_voice="friendly"
)


@dataclass
class Dispatcher:
    sessions: async_sessionmaker[AsyncSession]
    billing: BillingClient
    publisher: EventPublisher
    hold_ttl_s: int

    # ---- upstream events -------------------------------------------------------------------------------------

    async def copy_approved(self, event: upstream_pb2.CopyApproved) -> None:
        """Route an approval: image formats go to the image designer, video formats start (or resume) a job."""
        with _tracer.start_as_current_span("dispatcher.copy_approved") as span:
            span.set_attribute("social_video.tenant_id", event.tenant_id)
            span.set_attribute("social_video.social_post_id", event.social_post_id)
            if domain.route(event.platform_format) is domain.Route.IMAGE_DESIGNER:
                await self._forward_to_designer(event)
                return
            options = domain.validate_approval(event)
            async with transaction(self.sessions) as session:
                job = await repo.job_by_event(session, event.event_id)
                if job is None:
                    in_flight = await repo.active_job_for_post(session, event.tenant_id, event.social_post_id)
                    if in_flight is not None:
                        await repo.log_event(
                            session,
                            in_flight.job_id,
                            "approval ignored: a job for this post is in flight",
                            level="warn",
                            event_id=event.event_id,
                        )
                        return
                    job = await self._create_job(session, event, options)
            span.set_attribute("social_video.job_id", job.job_id)
            await self._advance(job)

    async def _create_job(
        self, session: AsyncSession, event: upstream_pb2.CopyApproved, options: domain.VideoOptions
    ) -> Any:
        job = await repo.insert_job(
            session,
            {
                "job_id": new_id(),
                "tenant_id": event.tenant_id,
                "social_post_id": event.social_post_id,
                "source_event_id": event.event_id,
                "run": await repo.next_run(session, event.tenant_id, event.social_post_id),
                "status": "running",
                "step": "reserving",
                "progress": domain.progress_for(c.JOB_STEP_RESERVING),
                "wake_reason": "copy_approved",
                "platform": short_name(c.Platform, event.platform),
                "platform_format": short_name(c.PlatformFormat, event.platform_format),
                "content_type": short_name(c.ContentType, event.content_type),
                "copy": copy_dict(event.copy),
                "duration_seconds": options.duration_seconds,
                "aspect_ratio": options.aspect_ratio,
                "with_audio": options.with_audio,
                "trace_id": current_trace_id(),
            },
        )
        await repo.upsert_post(
            session,
            event.tenant_id,
            event.social_post_id,
            platform=job.platform,
            platform_format=job.platform_format,
            status="generating_video",
            deliverable_status="generating",
            current_job_id=job.job_id,
            status_reason="",
        )
        await repo.log_event(session, job.job_id, "job created", event_id=event.event_id, run=job.run)
        return job

    async def _advance(self, job: Any) -> None:
        """Reserve credits (once) and request the design (deduplicated), unless the job already ended."""
        if job.status not in repo.ACTIVE_STATUSES:
            return
        if not job.reservation_id:
            amount = await self.billing.quote(domain.CONSERVATIVE_PROVIDER, job.duration_seconds)
            try:
                hold = await self.billing.reserve(
                    job.tenant_id, amount, f"job:{job.job_id}", job.job_id, self.hold_ttl_s
                )
            except FailedPrecondition as exc:
                await self.fail(job.job_id, c.JOB_STEP_RESERVING, exc.message)
                return
            async with transaction(self.sessions) as session:
                job = await repo.update_job(
                    session,
                    job.job_id,
                    reservation_id=hold.reservation_id,
                    credits_reserved=hold.amount,
                    step="still_frame",
                    progress=domain.progress_for(c.JOB_STEP_STILL_FRAME),
                )
                await repo.log_event(
                    session, job.job_id, f"reserved {hold.amount} credits", reservation_id=hold.reservation_id
                )
        await self._publish_status(job, c.POST_STATUS_GENERATING_VIDEO, c.DELIVERABLE_STATUS_GENERATING)
        async with self.sessions() as session:
            brand_row = await repo.brand(session, job.tenant_id)
        brand = DEFAULT_BRAND
        if brand_row is not None:
            brand = pipeline_pb2.BrandStyle(
                primary_color=brand_row.primary_color,
                secondary_color=brand_row.secondary_color,
                accent_color=brand_row.accent_color,
                font_family=brand_row.font_family,
                tone_of_voice=brand_row.tone_of_voice,
                logo_key=brand_row.logo_key,
            )
        request = pipeline_pb2.DesignRequested(ref=job_ref(job), spec=video_spec(job), brand=brand)
        await self.publisher.publish(
            topology.DESIGN_REQUESTED, request, message_id(job.job_id, "design.requested", job.run)
        )

    async def _forward_to_designer(self, event: upstream_pb2.CopyApproved) -> None:
        forwarded = outbound_pb2.DesignerRequested(
            event_id=event.event_id,
            tenant_id=event.tenant_id,
            social_post_id=event.social_post_id,
            copy_approved=event,
        )
        await self.publisher.publish_json(topology.DESIGNER_REQUESTED, forwarded, f"designer:{event.event_id}")

    async def client_approved(self, event: upstream_pb2.ClientApproved) -> None:
        async with transaction(self.sessions) as session:
            if not await repo.mark_processed(session, event.event_id, topology.CLIENT_APPROVED):
                return
            post = await repo.post(session, event.tenant_id, event.social_post_id, lock=True)
            if post is None or post.status != "client_review":
                log.warning(
                    "client approval for post %s in status %s ignored",
                    event.social_post_id,
                    post.status if post else "unknown",
                )
                return
            post = await repo.update_post(
                session,
                event.tenant_id,
                event.social_post_id,
                status="approved",
                deliverable_status="approved",
            )
        await self._publish_post_status(
            event.tenant_id,
            event.social_post_id,
            post.current_job_id or "",
            c.POST_STATUS_APPROVED,
            c.DELIVERABLE_STATUS_APPROVED,
            f"approved:{event.event_id}",
            media_id=post.media_id or "",
        )

    # ---- pipeline events -------------------------------------------------------------------------------------

    async def submitted(self, event: pipeline_pb2.VideoSubmitted) -> None:
        provider = short_name(c.VideoProvider, event.provider)
        async with transaction(self.sessions) as session:
            job = await repo.job(session, event.ref.job_id, lock=True)
            if job is None or job.status not in repo.ACTIVE_STATUSES or job.provider_job_id:
                return
            await repo.update_job(
                session,
                job.job_id,
                provider=provider,
                provider_job_id=event.provider_job_id,
                motion_prompt=event.motion_prompt,
                step="polling",
                progress=max(job.progress, domain.progress_for(c.JOB_STEP_POLLING)),
            )
            await repo.update_post(
                session,
                job.tenant_id,
                job.social_post_id,
                design_job_id=event.provider_job_id,
                design_provider=provider,
            )
            await repo.log_event(
                session,
                job.job_id,
                f"submitted to {provider}",
                provider_job_id=event.provider_job_id,
                motion_prompt=event.motion_prompt,
            )

    async def progress(self, event: pipeline_pb2.VideoProgress) -> None:
        async with transaction(self.sessions) as session:
            job = await repo.job(session, event.ref.job_id, lock=True)
            if job is None or job.status not in repo.ACTIVE_STATUSES:
                return
            percent = domain.progress_for(event.step, event.percent)
            step = short_name(c.JobStep, event.step)
            current_step = c.JobStep.Value(f"JOB_STEP_{job.step.upper()}")
            if not domain.advances(current_step, job.progress, event.step, percent):
                return
            values: dict[str, Any] = {"step": step, "progress": percent}
            await repo.update_job(session, job.job_id, **values)
            await repo.log_event(
                session, job.job_id, event.label or domain.step_label(event.step), step=step, percent=percent
            )

    async def stored(self, event: pipeline_pb2.VideoStored) -> None:
        async with self.sessions() as session:
            job = await repo.job(session, event.ref.job_id)
        if job is None:
            log.warning("video.stored for unknown job %s", event.ref.job_id)
            return
        if job.status == "running":
            amount = await self.billing.quote(event.provider, job.duration_seconds)
            await self.billing.consume(job.reservation_id, min(amount, job.credits_reserved))
            async with transaction(self.sessions) as session:
                job = await repo.update_job(
                    session,
                    job.job_id,
                    status="succeeded",
                    step="done",
                    progress=100,
                    media_id=event.media_id,
                    object_key=event.object_key,
                    still_key=event.still_key,
                    credits_consumed=min(amount, job.credits_reserved),
                    provider=short_name(c.VideoProvider, event.provider),
                )
                await repo.update_post(
                    session,
                    job.tenant_id,
                    job.social_post_id,
                    status="client_review",
                    deliverable_status="needs_approval",
                    design_job_id=None,
                    design_provider=None,
                    media_id=event.media_id,
                )
                await repo.log_event(
                    session,
                    job.job_id,
                    "video stored; waiting for client review",
                    media_id=event.media_id,
                    object_key=event.object_key,
                    credits_consumed=job.credits_consumed,
                )
        if job.status != "succeeded" or job.media_id != event.media_id:
            return
        await self._publish_status(job, c.POST_STATUS_CLIENT_REVIEW, c.DELIVERABLE_STATUS_NEEDS_APPROVAL)
        notification = outbound_pb2.ClientNotification(
            event_id=f"notify:{job.job_id}:{job.run}",
            tenant_id=job.tenant_id,
            social_post_id=job.social_post_id,
            job_id=job.job_id,
            kind="video_ready",
            title="Your video is ready for review",
            message="A new video for your post is ready. Approve it or ask for changes.",
            media_id=event.media_id,
            video_url=event.public_url,
        )
        await self.publisher.publish_json(
            topology.NOTIFY_CLIENT, notification, message_id(job.job_id, "notify.client", job.run)
        )

    async def failed(self, event: pipeline_pb2.VideoFailed) -> None:
        await self.fail(event.ref.job_id, event.phase, event.reason, provider_job_id=event.provider_job_id)

    async def fail(self, job_id: str, phase: int, reason: str, provider_job_id: str = "") -> None:
        """End a job as failed: release its hold, send the post to DM review, say why."""
        async with self.sessions() as session:
            job = await repo.job(session, job_id)
        if job is None:
            return
        if job.status in repo.ACTIVE_STATUSES:
            if job.reservation_id:
                await self.billing.release(
                    job.reservation_id, f"job failed at {short_name(c.JobStep, phase)}: {reason}"
                )
            async with transaction(self.sessions) as session:
                job = await repo.update_job(
                    session,
                    job_id,
                    status="failed",
                    error=reason,
                    failed_phase=short_name(c.JobStep, phase),
                )
                await repo.update_post(
                    session,
                    job.tenant_id,
                    job.social_post_id,
                    status="dm_review",
                    deliverable_status="failed",
                    status_reason=reason,
                    design_job_id=None,
                    design_provider=None,
                )
                await repo.log_event(
                    session,
                    job_id,
                    f"job failed at {short_name(c.JobStep, phase)}: {reason}",
                    level="error",
                    provider_job_id=provider_job_id or job.provider_job_id,
                )
        if job.status == "failed":
            await self._publish_status(job, c.POST_STATUS_DM_REVIEW, c.DELIVERABLE_STATUS_FAILED, reason=job.error)

    # ---- outbound --------------------------------------------------------------------------------------------

    async def _publish_status(self, job: Any, post_status: int, deliverable: int, reason: str = "") -> None:
        await self._publish_post_status(
            job.tenant_id,
            job.social_post_id,
            job.job_id,
            post_status,
            deliverable,
            message_id(job.job_id, f"status.{short_name(c.PostStatus, post_status)}", job.run),
            reason=reason,
            media_id=job.media_id,
        )

    async def _publish_post_status(
        self,
        tenant_id: str,
        social_post_id: str,
        job_id: str,
        post_status: int,
        deliverable: int,
        msg_id: str,
        *,
        reason: str = "",
        media_id: str = "",
    ) -> None:
        event = outbound_pb2.PostStatusChanged(
            event_id=msg_id,
            tenant_id=tenant_id,
            social_post_id=social_post_id,
            job_id=job_id,
            post_status=post_status,
            deliverable_status=deliverable,
            reason=reason,
            media_id=media_id,
        )
        event.changed_at.FromDatetime(utcnow())
        await self.publisher.publish_json(topology.STATUS_CHANGED, event, msg_id)
