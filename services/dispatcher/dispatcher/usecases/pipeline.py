"""Use cases of the pipeline's events about a job: submitted to a provider, progress, stored, failed.

Events about a job that has already ended change nothing, except that work finished for an ended job (cancelled, or
failed by a timeout or a dead letter while its pipeline went on) is undone where it costs: a provider task submitted
after the end is cancelled too, and the Media stored for that run (only that one) is unlinked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from dispatcher import domain
from dispatcher import repository as repo
from dispatcher.costs import cost_of
from dispatcher.job_metrics import job_finished
from dispatcher.usecases.lifecycle import JobLifecycle
from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from svd.db import transaction
from svd.enums import short_name
from svd.errors import FailedPrecondition, InvalidArgument, NotFound
from svd.telemetry import metrics

log = logging.getLogger(__name__)

# A job that ended without its video: work that finishes for it afterwards is undone.
ENDED_UNFINISHED = ("cancelled", "failed")


def stale(job: Any, ref: pipeline_pb2.JobRef) -> bool:
    """An event of an earlier attempt of the job (a retry runs under a new run number): it changes nothing now. A
    late `stored` is the exception: its video is real and is delivered (see `stored`)."""
    return bool(ref.run) and ref.run != job.run


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
            if job is None or job.provider_job_id or stale(job, event.ref):
                return
            if job.status in ENDED_UNFINISHED:
                await repo.log_event(
                    session,
                    job.job_id,
                    f"cancelling a provider task submitted after the job was {job.status}",
                    provider=provider,
                    provider_job_id=event.provider_job_id,
                )
            if job.status == "succeeded":
                # This event was overtaken by its `stored` (separate consumers): still record the provider task.
                await repo.update_job(
                    session, job.job_id, provider_job_id=event.provider_job_id, motion_prompt=event.motion_prompt
                )
                await repo.log_event(
                    session, job.job_id, f"submitted to {provider}", provider_job_id=event.provider_job_id
                )
                return
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
                    # A `progress(storing)` that overtook this event keeps its step.
                    step=job.step if job.step in ("storing", "done") else "polling",
                    label="",
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
        if ended is not None and ended.status in ENDED_UNFINISHED:
            await self.lifecycle.outbound.cancel_provider_task(ended, ended.error, event.provider_job_id)

    async def progress(self, event: pipeline_pb2.VideoProgress) -> None:
        async with transaction(self._sessions) as session:
            job = await repo.job(session, event.ref.job_id, lock=True)
            if job is None or job.status not in repo.ACTIVE_STATUSES or stale(job, event.ref):
                return
            percent = domain.progress_for(event.step, event.percent)
            current_step = c.JobStep.Value(f"JOB_STEP_{job.step.upper()}")
            step = short_name(c.JobStep, event.step)
            if not domain.advances(current_step, job.progress, event.step, percent):
                if event.step == current_step and event.label and event.label != job.label:
                    # The same place, news about it (waiting in the provider's queue, then animating): label only.
                    await repo.update_job(session, job.job_id, label=event.label)
                    await repo.log_event(
                        session, job.job_id, event.label, step=step, percent=job.progress, label_only=True
                    )
                return
            await repo.update_job(session, job.job_id, step=step, progress=percent, label=event.label)
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
        if job.status in ENDED_UNFINISHED and event.media_id:
            # Stored after the job ended: that run's video (and only it; a newer run's may exist) is not delivered.
            await self.lifecycle.media.unlink(
                job.tenant_id, job.social_post_id, f"job {job.status}: {job.error}", media_id=event.media_id
            )
            return
        if job.status == "running":
            amount = await self._charge_for(event, job)
            # Consumed under the job's row lock: a cancel or failure racing this waits, then finds the job ended.
            async with transaction(self._sessions) as session:
                current = await repo.job(session, job.job_id, lock=True)
                if current is None or current.status != "running":
                    return
                billing_note = ""
                try:
                    # The job records what the ledger charged (a replayed consume answers the first amount).
                    amount = await self.lifecycle.billing.consume(job.reservation_id, amount)
                except FailedPrecondition as exc:
                    # The hold expired before the video was stored (the pipeline outlived its TTL): the client still
                    # gets the video; the missed charge is on record for an operator.
                    billing_note, amount = exc.message, 0
                provider = short_name(c.VideoProvider, event.provider)
                # The task's cost counts once per job: an earlier attempt that failed storing it counted it already.
                counted = await repo.task_charged(session, job.job_id, current.provider_job_id)
                actual = None if counted else cost_of(self.lifecycle.prices, provider, job.duration_seconds)
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
                    provider=provider,
                    **({"actual_cost_usd": (current.actual_cost_usd or 0) + actual[0]} if actual else {}),
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
                    **(
                        {"actual_cost_usd": str(actual[0]), "model": actual[1], "charged_task": current.provider_job_id}
                        if actual
                        else {}
                    ),
                    step=job.step,
                    percent=job.progress,
                )
            job_finished(job)
            if actual:
                metrics.provider_cost.add(float(actual[0]), {"provider": provider, "model": actual[1]})
        if job.status != "succeeded" or job.media_id != event.media_id:
            return
        await self.lifecycle.outbound.job_status(job, c.POST_STATUS_CLIENT_REVIEW, c.DELIVERABLE_STATUS_NEEDS_APPROVAL)
        await self.lifecycle.outbound.video_ready(job, event.public_url)

    async def _charge_for(self, event: pipeline_pb2.VideoStored, job: Any) -> int:
        """What the video costs: the actual provider's rate, never more than was held. Without a usable rate for it
        (removed, or never set), the hold itself is what was agreed before the paid call."""
        try:
            rate = await self.lifecycle.billing.quote(event.provider, job.duration_seconds)
        except (NotFound, InvalidArgument) as exc:
            log.warning("no rate for job %s's provider (%s): charging the hold", job.job_id, exc.message)
            return int(job.credits_reserved)
        return int(min(rate, job.credits_reserved))

    async def failed(self, event: pipeline_pb2.VideoFailed) -> None:
        async with self._sessions() as session:
            job = await repo.job(session, event.ref.job_id)
        if job is not None and stale(job, event.ref):
            log.info("job %s: ignoring a failure of run %d (now run %d)", job.job_id, event.ref.run, job.run)
            return
        await self.lifecycle.fail(event.ref.job_id, event.phase, event.reason, provider_job_id=event.provider_job_id)
