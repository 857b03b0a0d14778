"""What the dispatcher tells the world outside the pipeline: post status changes, client notifications, designer
requests and provider cancellations. Every publish has a deterministic message id, so a retried use case never
publishes twice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

from dispatcher.views import job_ref
from social_video.v1 import common_pb2 as c
from social_video.v1 import outbound_pb2, pipeline_pb2, upstream_pb2
from svd.bus import topology
from svd.bus.publisher import EventPublisher
from svd.enums import from_short_name, short_name
from svd.ids import message_id
from svd.timeutil import utcnow

Trigger: TypeAlias = upstream_pb2.CopyApproved | upstream_pb2.DesignRejected | upstream_pb2.ClientRejected
_TRIGGER_FIELDS = {
    upstream_pb2.CopyApproved: "copy_approved",
    upstream_pb2.DesignRejected: "design_rejected",
    upstream_pb2.ClientRejected: "client_rejected",
}


@dataclass
class Outbound:
    publisher: EventPublisher

    async def job_status(self, job: Any, post_status: int, deliverable: int, reason: str = "") -> None:
        """The post's status as a job moved it (one event per job run and status)."""
        await self.post_status(
            job.tenant_id,
            job.social_post_id,
            job.job_id,
            post_status,
            deliverable,
            message_id(job.job_id, f"status.{short_name(c.PostStatus, post_status)}", job.run),
            reason=reason,
            media_id=job.media_id,
        )

    async def post_status(
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
            post_status=post_status,  # type: ignore[arg-type]
            deliverable_status=deliverable,  # type: ignore[arg-type]
            reason=reason,
            media_id=media_id,
        )
        event.changed_at.FromDatetime(utcnow())
        await self.publisher.publish_json(topology.STATUS_CHANGED, event, msg_id)

    async def video_ready(self, job: Any, public_url: str) -> None:
        notification = outbound_pb2.ClientNotification(
            event_id=f"notify:{job.job_id}:{job.run}",
            tenant_id=job.tenant_id,
            social_post_id=job.social_post_id,
            job_id=job.job_id,
            kind="video_ready",
            title="Your video is ready for review",
            message="A new video for your post is ready. Approve it or ask for changes.",
            media_id=job.media_id,
            video_url=public_url,
        )
        await self.publisher.publish_json(
            topology.NOTIFY_CLIENT, notification, message_id(job.job_id, "notify.client", job.run)
        )

    async def to_designer(self, trigger: Trigger) -> None:
        """Forward an image-format event to the image designer, unchanged."""
        forwarded = outbound_pb2.DesignerRequested(
            event_id=trigger.event_id, tenant_id=trigger.tenant_id, social_post_id=trigger.social_post_id
        )
        getattr(forwarded, _TRIGGER_FIELDS[type(trigger)]).CopyFrom(trigger)
        await self.publisher.publish_json(topology.DESIGNER_REQUESTED, forwarded, f"designer:{trigger.event_id}")

    async def resume_poll(self, job: Any, spec: pipeline_pb2.VideoSpec, from_run: int) -> None:
        """Ask the gateway to poll the provider task that run `from_run` made, under the job's new run (a retry
        resumes it: no new submit, the poll schedule starts now)."""
        poll = pipeline_pb2.VideoPoll(
            ref=job_ref(job),
            spec=spec,
            provider=from_short_name(c.VideoProvider, job.provider),  # type: ignore[arg-type]
            provider_job_id=job.provider_job_id,
            motion_prompt=job.motion_prompt,
            resumed_from_run=from_run,
        )
        poll.submitted_at.FromDatetime(utcnow())
        await self.publisher.publish(topology.POLL, poll, message_id(job.job_id, "poll.resume", job.run))

    async def cancel_provider_task(self, job: Any, reason: str, provider_job_id: str = "") -> None:
        """Ask the pipeline to stop working on `job` (the gateway cancels the provider task, if there is one)."""
        provider_job_id = provider_job_id or job.provider_job_id
        cancel = pipeline_pb2.VideoCancel(
            ref=job_ref(job),
            reason=reason,
            provider=from_short_name(c.VideoProvider, job.provider) if job.provider else 0,  # type: ignore[arg-type]
            provider_job_id=provider_job_id,
        )
        # A cancel often comes at or after the job's deadline (the sweeper's): stopping a paid task is worth retrying
        # past it, for the bus's own retry budget.
        cancel.ref.ClearField("deadline")
        await self.publisher.publish(
            topology.CANCEL, cancel, message_id(job.job_id, f"cancel.{provider_job_id or 'pipeline'}", job.run)
        )
