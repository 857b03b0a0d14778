"""Use cases of the pipeline's events about a job: submitted to a provider, progress, stored, failed.

Events about a job that has already ended change nothing, except that work finished for a cancelled job is undone
where it costs: a provider task submitted after the cancel is cancelled too, and media stored for it is unlinked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from dispatcher import domain
from dispatcher import repository as repo
from dispatcher.usecases.lifecycle import JobLifecycle
from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from svd.db import transaction
from svd.enums import short_name
from svd.errors import FailedPrecondition

log = logging.getLogger(__name__)


@dataclass
class PipelineEvents:
    lifecycle: JobLifecycle

    @property
    def _sessions(self) -> Any:
        return self.lifecycle.sessions

    async def submitted(self, event: pipeline_pb2.VideoSubmitted) -> None:
        provider = short_name(c.VideoProvider, event.provider)
        async with transaction(self._sessions) as session:
            job = await repo.job(session, event.ref.job_id, lock=True)
            if job is None or job.provider_job_id:
                return
            if job.status == "cancelled":
                await repo.log_event(
                    session,
                    job.job_id,
                    "cancelling a provider task submitted after the cancel",
                    provider=provider,
                    provider_job_id=event.provider_job_id,
                )
            if job.status not in repo.ACTIVE_STATUSES:
                ended = job
            else:
                ended = None
                updated = await repo.update_job(
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
                    step=updated.step,
                    percent=updated.progress,
                )
        if ended is not None and ended.status == "cancelled":
            await self.lifecycle.outbound.cancel_provider_task(ended, ended.error, event.provider_job_id)

    async def progress(self, event: pipeline_pb2.VideoProgress) -> None:
        async with transaction(self._sessions) as session:
            job = await repo.job(session, event.ref.job_id, lock=True)
            if job is None or job.status not in repo.ACTIVE_STATUSES:
                return
            percent = domain.progress_for(event.step, event.percent)
            current_step = c.JobStep.Value(f"JOB_STEP_{job.step.upper()}")
            if not domain.advances(current_step, job.progress, event.step, percent):
                return
            step = short_name(c.JobStep, event.step)
            await repo.update_job(session, job.job_id, step=step, progress=percent)
            await repo.log_event(
                session, job.job_id, event.label or domain.step_label(event.step), step=step, percent=percent
            )

    async def stored(self, event: pipeline_pb2.VideoStored) -> None:
        """Consume the actual provider's rate (the rest of the hold is released), then hand over to the client."""
        async with self._sessions() as session:
            job = await repo.job(session, event.ref.job_id)
        if job is None:
            log.warning("video.stored for unknown job %s", event.ref.job_id)
            return
        if job.status == "cancelled" and event.media_id:
            await self.lifecycle.media.unlink(job.tenant_id, job.social_post_id, f"job cancelled: {job.error}")
            return
        if job.status == "running":
            amount = min(await self.lifecycle.billing.quote(event.provider, job.duration_seconds), job.credits_reserved)
            # Consumed under the job's row lock: a cancel or failure racing this waits, then finds the job ended.
            async with transaction(self._sessions) as session:
                current = await repo.job(session, job.job_id, lock=True)
                if current is None or current.status != "running":
                    return
                billing_note = ""
                try:
                    await self.lifecycle.billing.consume(job.reservation_id, amount)
                except FailedPrecondition as exc:
                    # The hold expired before the video was stored (the pipeline outlived its TTL): the client still
                    # gets the video; the missed charge is on record for an operator.
                    billing_note, amount = exc.message, 0
                job = await repo.update_job(
                    session,
                    job.job_id,
                    status="succeeded",
                    step="done",
                    progress=100,
                    media_id=event.media_id,
                    object_key=event.object_key,
                    still_key=event.still_key,
                    credits_consumed=amount,
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
                    status_reason="",
                )
                if billing_note:
                    await repo.log_event(
                        session, job.job_id, f"credits not consumed: {billing_note}", level="error", amount=amount
                    )
                await repo.log_event(
                    session,
                    job.job_id,
                    "video stored; waiting for client review",
                    media_id=event.media_id,
                    object_key=event.object_key,
                    credits_consumed=amount,
                    provider=job.provider,
                    step=job.step,
                    percent=job.progress,
                )
        if job.status != "succeeded" or job.media_id != event.media_id:
            return
        await self.lifecycle.outbound.job_status(job, c.POST_STATUS_CLIENT_REVIEW, c.DELIVERABLE_STATUS_NEEDS_APPROVAL)
        await self.lifecycle.outbound.video_ready(job, event.public_url)

    async def failed(self, event: pipeline_pb2.VideoFailed) -> None:
        await self.lifecycle.fail(event.ref.job_id, event.phase, event.reason, provider_job_id=event.provider_job_id)
