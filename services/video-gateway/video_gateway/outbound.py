"""What the gateway publishes, each with a deterministic message id (a retried publish is stored once)."""

from __future__ import annotations

import logging
from datetime import UTC
from typing import Any

from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from svd.bus import topology
from svd.bus.publisher import EventPublisher
from svd.ids import message_id

log = logging.getLogger(__name__)

PROVIDER_ENUM = {"runway": c.VIDEO_PROVIDER_RUNWAY, "kling": c.VIDEO_PROVIDER_KLING}
PROVIDER_NAME = {value: name for name, value in PROVIDER_ENUM.items()}


class Outbound:
    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    async def submitted(self, event: pipeline_pb2.StillReady, row: Any) -> None:
        """`video.submitted` for the dispatcher, then the job's one poll message (the loop's only state on the bus)."""
        ref = event.ref
        provider = PROVIDER_ENUM[row.provider]
        submitted = pipeline_pb2.VideoSubmitted(
            ref=ref, provider=provider, provider_job_id=row.provider_job_id, motion_prompt=row.motion_prompt
        )
        submitted.submitted_at.FromDatetime(row.submitted_at.astimezone(UTC))
        await self._publisher.publish(topology.SUBMITTED, submitted, message_id(ref.job_id, "submitted", ref.run))
        poll = pipeline_pb2.VideoPoll(
            ref=ref,
            spec=event.spec,
            provider=provider,
            provider_job_id=row.provider_job_id,
            motion_prompt=row.motion_prompt,
            still_key=event.still_key,
            overlay_key=event.overlay_key,
            submitted_at=submitted.submitted_at,
        )
        await self._publisher.publish(topology.POLL, poll, message_id(ref.job_id, "poll", ref.run))

    async def ready(self, poll: pipeline_pb2.VideoPoll, output_urls: list[str]) -> None:
        ready = pipeline_pb2.VideoReady(
            ref=poll.ref,
            spec=poll.spec,
            provider=poll.provider,
            provider_job_id=poll.provider_job_id,
            motion_prompt=poll.motion_prompt,
            output_urls=output_urls,
            still_key=poll.still_key,
            overlay_key=poll.overlay_key,
        )
        await self._publisher.publish(topology.READY, ready, message_id(poll.ref.job_id, "ready", poll.ref.run))

    async def failed(
        self,
        ref: pipeline_pb2.JobRef,
        phase: c.JobStep.ValueType,
        reason: str,
        provider: c.VideoProvider.ValueType = c.VIDEO_PROVIDER_UNSPECIFIED,
        provider_job_id: str = "",
    ) -> None:
        log.warning("job %s run %d failed at step %d: %s", ref.job_id, ref.run, phase, reason)
        failed = pipeline_pb2.VideoFailed(
            ref=ref, phase=phase, reason=reason, provider=provider, provider_job_id=provider_job_id
        )
        await self._publisher.publish(topology.FAILED, failed, message_id(ref.job_id, "failed", ref.run))

    async def progress(
        self, ref: pipeline_pb2.JobRef, step: c.JobStep.ValueType, percent: int, label: str, key: str = ""
    ) -> None:
        """`key` names a label-only update (the percent did not move): one publish per distinct key."""
        progress = pipeline_pb2.VideoProgress(ref=ref, step=step, percent=percent, label=label)
        await self._publisher.publish(
            topology.PROGRESS, progress, message_id(ref.job_id, key or f"progress.{step}.{percent}", ref.run)
        )
