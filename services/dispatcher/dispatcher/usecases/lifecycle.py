"""The life of one video job, shared by every flow: start it (reserve, then request the design), end it as failed
or cancelled (release the hold, send the post to DM review, say why).

Each step is idempotent: the hold is named by the job (`job:<id>`), publishes carry deterministic message ids and a
job that has already ended is left alone, so a redelivered event or a retried RPC repairs a crash without doing
anything twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatcher import domain
from dispatcher import repository as repo
from dispatcher.costs import DEFAULT_PRICES, ProviderPrice, charged_when_failed, cost_of
from dispatcher.job_metrics import job_finished
from dispatcher.outbound import Outbound
from dispatcher.ports import BillingClient, MediaClient
from dispatcher.views import job_ref, video_spec
from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from svd.bus import topology
from svd.bus.publisher import EventPublisher
from svd.db import transaction
from svd.enums import short_name
from svd.errors import FailedPrecondition, InvalidArgument, NotFound
from svd.ids import message_id
from svd.telemetry import metrics
from svd.telemetry.metrics import timed_step

log = logging.getLogger(__name__)

DEFAULT_BRAND = pipeline_pb2.BrandStyle(
    primary_color="#1F2A44", secondary_color="#3E5C9A", accent_color="#F2A541", tone_of_voice="friendly"
)


@dataclass
class JobLifecycle:
    sessions: async_sessionmaker[AsyncSession]
    billing: BillingClient
    media: MediaClient
    publisher: EventPublisher
    outbound: Outbound
    hold_ttl_s: int
    job_deadline_s: int
    prices: dict[str, ProviderPrice] = field(default_factory=lambda: dict(DEFAULT_PRICES))

    async def advance(self, job: Any, *, resume_from_run: int = 0) -> None:
        """Start an admitted job: reserve credits (once) and request the design (deduplicated), then mark it started.
        A job still waiting for admission, or one that already ended, is left alone. A retried job resuming the
        provider task of run `resume_from_run` asks the gateway to poll that task instead."""
        if job.status != "running":
            return
        if not job.reservation_id:
            with timed_step("reserving"):
                reserved, refused = await self._reserve(job, resuming=bool(resume_from_run))
            if refused:
                await self.fail(job.job_id, c.JOB_STEP_RESERVING, refused)
                return
            if reserved is None:
                return
            job = reserved
        # `design_pending` (deduplicated with the one sent at approval) always goes out before `generating_video`.
        await self.outbound.job_status(job, c.POST_STATUS_DESIGN_PENDING, c.DELIVERABLE_STATUS_GENERATING)
        await self.outbound.job_status(job, c.POST_STATUS_GENERATING_VIDEO, c.DELIVERABLE_STATUS_GENERATING)
        if resume_from_run and job.provider_job_id:
            await self.outbound.resume_poll(job, video_spec(job), resume_from_run)
        else:
            request = pipeline_pb2.DesignRequested(ref=job_ref(job), spec=video_spec(job), brand=await self._brand(job))
            await self.publisher.publish(
                topology.DESIGN_REQUESTED, request, message_id(job.job_id, "design.requested", job.run)
            )
        if job.started_at is None:
            async with transaction(self.sessions) as session:
                await repo.mark_started(session, job.job_id)

    async def _reserve(self, job: Any, *, resuming: bool = False) -> tuple[Any | None, str]:
        """Reserve the job's conservative hold and record it on the job: (the job with its hold, ""), (job, why it
        cannot be held) — insufficient credits or no usable rate, which no retry changes — or (None, "") when the job
        ended meanwhile (its hold is released at once)."""
        try:
            amount = await self.billing.quote(domain.CONSERVATIVE_PROVIDER, job.duration_seconds)
        except (NotFound, InvalidArgument) as exc:
            return job, exc.message
        async with transaction(self.sessions) as session:
            # Reserved and recorded under the tenant's credit lock, so the check of a new approval sees this hold both
            # in billing and on the job, or in neither (never counted twice, nor not at all).
            await repo.lock_tenant_credits(session, job.tenant_id)
            try:
                # The hold is named by the job, so a racing replica (or a resume) gets the same hold back.
                hold = await self.billing.reserve(
                    job.tenant_id, amount, domain.hold_key(job.job_id, job.attempt), job.job_id, self.hold_ttl_s
                )
            except (FailedPrecondition, NotFound, InvalidArgument) as exc:
                return job, exc.message
            current = await repo.job(session, job.job_id, lock=True)
            if current is None or current.status not in repo.ACTIVE_STATUSES:
                # Cancelled while we were reserving: the hold must not outlive the job.
                await self.billing.release(hold.reservation_id, "job ended while reserving")
                return None, ""
            if current.reservation_id:
                # Another start of the same job (a resume, another replica) recorded this hold first.
                return current, ""
            return await self._record_hold(session, job, hold, resuming=resuming), ""

    async def _record_hold(self, session: AsyncSession, job: Any, hold: Any, *, resuming: bool = False) -> Any:
        step = c.JOB_STEP_POLLING if resuming else c.JOB_STEP_STILL_FRAME
        # Before the paid call: the provider the hold was quoted for (a resumed task is not paid again).
        provider = (
            job.provider if resuming and job.provider else short_name(c.VideoProvider, domain.CONSERVATIVE_PROVIDER)
        )
        estimate = None if resuming else cost_of(self.prices, provider, job.duration_seconds)
        job = await repo.update_job(
            session,
            job.job_id,
            reservation_id=hold.reservation_id,
            credits_reserved=hold.amount,
            step=short_name(c.JobStep, step),
            progress=domain.progress_for(step),
            label="",
            **({"estimated_cost_usd": estimate[0]} if estimate else {}),
        )
        costing = f"; {provider} estimated at ${estimate[0]} ({estimate[1]})" if estimate else ""
        await repo.log_event(
            session,
            job.job_id,
            f"reserved {hold.amount} credits{costing}",
            **({"estimated_cost_usd": str(estimate[0]), "model": estimate[1]} if estimate else {}),
            reservation_id=hold.reservation_id,
            step=job.step,
            percent=job.progress,
        )
        return job

    async def _brand(self, job: Any) -> pipeline_pb2.BrandStyle:
        async with self.sessions() as session:
            row = await repo.brand(session, job.tenant_id)
        if row is None:
            return DEFAULT_BRAND
        return pipeline_pb2.BrandStyle(
            primary_color=row.primary_color,
            secondary_color=row.secondary_color,
            accent_color=row.accent_color,
            font_family=row.font_family,
            tone_of_voice=row.tone_of_voice,
            logo_key=row.logo_key,
        )

    async def fail(
        self, job_id: str, phase: int, reason: str, provider_job_id: str = "", *, stop_provider: bool = False
    ) -> Any | None:
        """End a job as failed: release its hold, send the post to DM review, say why. With `stop_provider` (the job
        is given up from outside the pipeline: a timeout, a dead letter) its provider task is cancelled too."""
        ended = await self._end(job_id, "failed", phase, reason, provider_job_id=provider_job_id)
        ended_here = ended is not None and ended.status == "failed" and ended.error == reason
        if stop_provider and ended_here and _reached_pipeline(ended):
            await self.outbound.cancel_provider_task(ended, reason)
        return ended

    async def cancel(self, job_id: str, reason: str) -> Any | None:
        """End a job as cancelled wherever it is: release its hold, stop the pipeline and the provider task. A job
        that never left the queue has neither: only its status changes."""
        async with self.sessions() as session:
            job = await repo.job(session, job_id)
        if job is None:
            return None
        phase = c.JobStep.Value(f"JOB_STEP_{job.step.upper()}")
        job = await self._end(job_id, "cancelled", phase, f"cancelled: {reason}")
        if job is not None and _reached_pipeline(job) and job.status == "cancelled":
            await self.outbound.cancel_provider_task(job, reason)
        return job

    async def _end(self, job_id: str, status: str, phase: int, reason: str, provider_job_id: str = "") -> Any | None:
        phase_name = short_name(c.JobStep, phase)
        # The job row stays locked while the hold is released, so a racing `stored` (which consumes under the same
        # lock) sees either a running job with its hold or an ended one: never charged-and-cancelled. A failed
        # release rolls everything back and the event is retried.
        async with transaction(self.sessions) as session:
            job = await repo.job(session, job_id, lock=True)
            if job is None or job.status not in repo.ACTIVE_STATUSES:
                return job
            hold_note = ""
            if job.reservation_id:
                try:
                    await self.billing.release(job.reservation_id, f"job {status} at {phase_name}: {reason}")
                except FailedPrecondition as exc:  # expired on its own (or resolved elsewhere): nothing held now
                    hold_note = exc.message
            job = await repo.update_job(session, job_id, status=status, error=reason, failed_phase=phase_name)
            task_id = provider_job_id or job.provider_job_id
            paid = await self._paid_task(session, job, task_id) if status == "failed" else None
            if paid is not None:
                job = await repo.update_job(session, job_id, actual_cost_usd=(job.actual_cost_usd or 0) + paid[0])
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
                f"job {status} at {phase_name}: {reason}",
                level="error" if status == "failed" else "warn",
                provider_job_id=provider_job_id or job.provider_job_id,
                provider=job.provider,
                **({"hold": hold_note} if hold_note else {}),
                **(
                    {"actual_cost_usd": str(paid[0]), "model": paid[1], "charged_task": task_id}
                    if paid is not None
                    else {}
                ),
            )
        job_finished(job)
        if paid is not None:
            metrics.provider_cost.add(float(paid[0]), {"provider": job.provider, "model": paid[1]})
        if job.status == status:
            await self.outbound.job_status(job, c.POST_STATUS_DM_REVIEW, c.DELIVERABLE_STATUS_FAILED, reason=job.error)
        return job

    async def _paid_task(self, session: AsyncSession, job: Any, task_id: str) -> tuple[Any, str] | None:
        """(US dollars, model) the provider charged for the failed job's task, when it finished there (see
        `costs.charged_when_failed`) and no earlier attempt counted it; else None."""
        if not charged_when_failed(job.failed_phase, task_id) or await repo.task_charged(session, job.job_id, task_id):
            return None
        return cost_of(self.prices, job.provider, job.duration_seconds)


def _reached_pipeline(job: Any) -> bool:
    """The job was admitted, so the pipeline (and perhaps a provider) may be working on it."""
    return job.admitted_at is not None
