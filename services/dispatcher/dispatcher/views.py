"""Conversions from dispatcher rows to protobuf messages (jobs, status events), shared by the API and the bus."""

from __future__ import annotations

from typing import Any

from dispatcher.domain import step_label, waiting_label
from social_video.v1 import common_pb2 as c
from social_video.v1 import jobs_pb2, pipeline_pb2
from svd.enums import from_short_name, short_name
from svd.timeutil import to_timestamp


def job_message(
    row: Any, post: Any | None = None, *, show_hold: bool = False, ahead: int | None = None
) -> jobs_pb2.Job:
    """The job as the API shows it. The credit hold's id only with `show_hold` (admin and service callers): with it a
    tenant could consume or release its own hold through billing. `ahead`: a queued job's place in the queue."""
    step = from_short_name(c.JobStep, row.step)
    if row.status == "queued":
        label = waiting_label(ahead or 0)
    elif row.status == "running":
        # Rows can be snapshots written before the column existed (webhook outbox): no label then.
        label = getattr(row, "label", "") or step_label(step)
    else:
        label = row.error or step_label(step)
    job = jobs_pb2.Job(
        job_id=row.job_id,
        tenant_id=row.tenant_id,
        social_post_id=row.social_post_id,
        status=from_short_name(c.JobStatus, row.status),
        step=step,
        progress=row.progress,
        error=row.error,
        created_at=to_timestamp(row.created_at),
        updated_at=to_timestamp(row.updated_at),
        provider=from_short_name(c.VideoProvider, row.provider) if row.provider else c.VIDEO_PROVIDER_UNSPECIFIED,
        provider_job_id=row.provider_job_id,
        reservation_id=row.reservation_id if show_hold else "",
        credits_reserved=row.credits_reserved,
        credits_consumed=row.credits_consumed,
        media_id=row.media_id,
        object_key=row.object_key,
        still_key=row.still_key,
        trace_id=row.trace_id,
        duration_seconds=row.duration_seconds,
        aspect_ratio=row.aspect_ratio,
        wake_reason=from_short_name(c.WakeReason, row.wake_reason),
        run=row.run,
        platform_format=from_short_name(c.PlatformFormat, row.platform_format),
        failed_phase=from_short_name(c.JobStep, row.failed_phase) if row.failed_phase else c.JOB_STEP_UNSPECIFIED,
        attempt=row.attempt,
        estimated_cost_usd=float(row.estimated_cost_usd or 0),
        actual_cost_usd=float(row.actual_cost_usd or 0),
        queue_position=(ahead or 0) if row.status == "queued" else 0,
        label=label,
    )
    job.deadline.CopyFrom(to_timestamp(row.deadline_at))
    if post is not None:
        job.post_status = from_short_name(c.PostStatus, post.status)
        job.deliverable_status = from_short_name(c.DeliverableStatus, post.deliverable_status)
    return job


def job_ref(row: Any) -> pipeline_pb2.JobRef:
    """The job as pipeline events name it, with its deadline (retries of its messages stop there)."""
    ref = pipeline_pb2.JobRef(
        job_id=row.job_id, tenant_id=row.tenant_id, social_post_id=row.social_post_id, run=row.run
    )
    ref.deadline.CopyFrom(to_timestamp(row.deadline_at))
    return ref


def video_spec(row: Any) -> pipeline_pb2.VideoSpec:
    copy = row.copy or {}
    return pipeline_pb2.VideoSpec(
        platform=from_short_name(c.Platform, row.platform),
        platform_format=from_short_name(c.PlatformFormat, row.platform_format),
        content_type=from_short_name(c.ContentType, row.content_type),
        copy=c.PostCopy(
            headline=copy.get("headline", ""),
            body=copy.get("body", ""),
            cta=copy.get("cta", ""),
            hashtags=copy.get("hashtags", []),
        ),
        duration_seconds=row.duration_seconds,
        aspect_ratio=row.aspect_ratio,
        with_audio=row.with_audio,
        reviewer_feedback=row.reviewer_feedback,
        wake_reason=from_short_name(c.WakeReason, row.wake_reason),
    )


def copy_dict(copy: c.PostCopy) -> dict[str, Any]:
    return {"headline": copy.headline, "body": copy.body, "cta": copy.cta, "hashtags": list(copy.hashtags)}


__all__ = ["copy_dict", "job_message", "job_ref", "short_name", "video_spec"]
