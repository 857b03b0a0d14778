"""Use cases of the upstream events: a DM's approval starts a job, a rejection re-runs it with the reviewer's
feedback, a client's approval closes the post. Image formats are not ours: they go to the image designer untouched.

Idempotency: a job is found by the event that created it (`source_event_id`), so a redelivered approval or
rejection resumes its own job instead of starting another; a post with a job in flight starts nothing new.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher import domain
from dispatcher import repository as repo
from dispatcher.job_metrics import job_finished, job_started
from dispatcher.usecases.lifecycle import JobLifecycle
from dispatcher.views import copy_dict
from social_video.v1 import common_pb2 as c
from social_video.v1 import upstream_pb2
from svd.bus import topology
from svd.db import transaction
from svd.enums import short_name
from svd.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from svd.telemetry import current_trace_id, tracer
from svd.timeutil import utcnow

log = logging.getLogger(__name__)
_tracer = tracer("dispatcher")

Rejection: TypeAlias = upstream_pb2.DesignRejected | upstream_pb2.ClientRejected
_WAKE_REASONS = {upstream_pb2.DesignRejected: "design_rejected", upstream_pb2.ClientRejected: "client_rejected"}


def _known_or_blank(enum: Any, value: int) -> str:
    try:
        return domain.enum_name(enum, value)
    except InvalidArgument:
        return ""


# Why a tenant cannot afford a new job of `need` credits (None when it can), inside the creating transaction.
CreditCheck: TypeAlias = Callable[[AsyncSession, str, int], Awaitable[str | None]]


@dataclass
class UpstreamEvents:
    lifecycle: JobLifecycle
    credit_check: CreditCheck
    # A new job waits for admission at most this long (its deadline until admitted).
    queue_max_wait_s: int

    @property
    def _sessions(self) -> Any:
        return self.lifecycle.sessions

    async def copy_approved(self, event: upstream_pb2.CopyApproved) -> None:
        """Route an approval: image formats go to the image designer, video formats start (or resume) a job."""
        with _tracer.start_as_current_span("dispatcher.copy_approved") as span:
            span.set_attribute("social_video.tenant_id", event.tenant_id)
            span.set_attribute("social_video.social_post_id", event.social_post_id)
            domain.validate_ids(event)
            if domain.route(event.platform_format) is domain.Route.IMAGE_DESIGNER:
                await self.lifecycle.outbound.to_designer(event)
                return
            try:
                options = domain.validate_approval(event)
            except InvalidArgument as exc:
                # The ids are sound, so the DM can be told why nothing happened (besides the dead letter).
                await self._refuse(event, exc.message)
                raise
            values = {
                "platform": short_name(c.Platform, event.platform),
                "platform_format": short_name(c.PlatformFormat, event.platform_format),
                "content_type": short_name(c.ContentType, event.content_type),
                "copy": copy_dict(event.copy),
                "duration_seconds": options.duration_seconds,
                "aspect_ratio": options.aspect_ratio,
                "with_audio": options.with_audio,
                "wake_reason": "copy_approved",
            }
            job = await self._start(event, values, after_success=False)
            if job is not None:
                span.set_attribute("social_video.job_id", job.job_id)
                await self._announce(job)

    async def _refuse(self, event: upstream_pb2.CopyApproved, reason: str) -> None:
        """An approval whose content the pipeline cannot make: the post goes to DM review with the reason, unless a
        job for it is in flight or its video was made (a bad duplicate must not disturb either)."""
        reason = f"approval refused: {reason}"
        async with transaction(self._sessions) as session:
            await repo.lock_post_key(session, event.tenant_id, event.social_post_id)
            latest = await repo.latest_job_for_post(session, event.tenant_id, event.social_post_id)
            if latest is not None and latest.status in (*repo.ACTIVE_STATUSES, "succeeded"):
                await repo.log_event(session, latest.job_id, reason, level="warn", event_id=event.event_id)
                return
            await repo.upsert_post(
                session,
                event.tenant_id,
                event.social_post_id,
                platform=_known_or_blank(c.Platform, event.platform),
                platform_format=_known_or_blank(c.PlatformFormat, event.platform_format),
                status="dm_review",
                deliverable_status="failed",
                status_reason=reason,
            )
        await self.lifecycle.outbound.post_status(
            event.tenant_id,
            event.social_post_id,
            "",
            c.POST_STATUS_DM_REVIEW,
            c.DELIVERABLE_STATUS_FAILED,
            f"refused:{event.event_id}",
            reason=reason,
        )

    async def rejected(self, event: Rejection) -> None:
        """A rejected video is made again with the reviewer's feedback; the old Media is unlinked, never deleted."""
        with _tracer.start_as_current_span("dispatcher.rejected") as span:
            span.set_attribute("social_video.tenant_id", event.tenant_id)
            span.set_attribute("social_video.social_post_id", event.social_post_id)
            domain.validate_ids(event)
            domain.validate_feedback(event.reviewer_feedback)
            async with self._sessions() as session:
                job = await repo.job_by_event(session, event.event_id)
                previous = await repo.latest_job_for_post(session, event.tenant_id, event.social_post_id)
            if job is None and previous is None:
                # Video posts are always known here (their approval made a job): anything else is an image post.
                await self.lifecycle.outbound.to_designer(event)
                return
            if job is None:
                assert previous is not None
                if await self._closed(event, previous):
                    return
                # Unlinking comes before the new job exists, so a redelivery that finds the job knows it was done
                # and the new run's own media can never be unlinked by it.
                if await self._in_flight(event, previous.job_id):
                    return
                unlinked = await self.lifecycle.media.unlink(
                    event.tenant_id, event.social_post_id, f"{_WAKE_REASONS[type(event)]}: {event.reviewer_feedback}"
                )
                values = {
                    name: getattr(previous, name)
                    for name in (
                        "platform",
                        "platform_format",
                        "content_type",
                        "copy",
                        "duration_seconds",
                        "aspect_ratio",
                        "with_audio",
                    )
                }
                values |= {"wake_reason": _WAKE_REASONS[type(event)], "reviewer_feedback": event.reviewer_feedback}
                job = await self._start(event, values, unlinked_media=unlinked)
            if job is not None:
                span.set_attribute("social_video.job_id", job.job_id)
                await self._announce(job)

    async def _announce(self, job: Any) -> None:
        """Say what became of the job this event created (again, deduplicated, on a redelivery): waiting for a slot,
        refused for credits at once, or — found admitted by a redelivery — started (idempotent)."""
        if job.status == "queued":
            await self.lifecycle.outbound.job_status(job, c.POST_STATUS_DESIGN_PENDING, c.DELIVERABLE_STATUS_GENERATING)
        elif job.status == "failed" and job.admitted_at is None:
            await self.lifecycle.outbound.job_status(
                job, c.POST_STATUS_DM_REVIEW, c.DELIVERABLE_STATUS_FAILED, reason=job.error
            )
        elif job.status == "running":
            await self.lifecycle.advance(job)

    async def _closed(self, event: Any, previous: Any) -> bool:
        """A post the client already approved is done: a late rejection is logged, not re-run."""
        async with transaction(self._sessions) as session:
            post = await repo.post(session, event.tenant_id, event.social_post_id)
            if post is None or post.status != "approved":
                return False
            await repo.log_event(
                session,
                previous.job_id,
                "rejection ignored: the post is approved",
                level="warn",
                event_id=event.event_id,
            )
            return True

    async def _in_flight(self, event: Any, previous_job_id: str) -> bool:
        async with transaction(self._sessions) as session:
            active = await repo.active_job_for_post(session, event.tenant_id, event.social_post_id)
            if active is None:
                return False
            await repo.log_event(
                session,
                active.job_id,
                "event ignored: a job for this post is in flight",
                level="warn",
                event_id=event.event_id,
                previous_job_id=previous_job_id,
            )
            return True

    async def _start(
        self, event: Any, values: dict[str, Any], unlinked_media: int = 0, after_success: bool = True
    ) -> Any | None:
        """The job this event created (a new one unless a redelivery finds it), or None when one is in flight.

        A repeated approval of a post whose video was made (`after_success` False) starts nothing either: only a
        rejection re-runs a video; a new approval after a failure or a cancel is a retry and does start a job.

        The job is created `queued` (admission starts it when a slot is free), or `failed` at once when its tenant
        cannot afford it on top of its jobs already waiting. With billing unreachable the job is queued unchecked:
        the approval is still answered at once, and the reserve at admission guards the credits.
        """
        async with self._sessions() as session:
            known = await repo.job_by_event(session, event.event_id)
        if known is not None:
            return known
        need, refused, checked = 0, "", True
        try:
            need = await self.lifecycle.billing.quote(domain.CONSERVATIVE_PROVIDER, values["duration_seconds"])
        except (FailedPrecondition, NotFound, InvalidArgument) as exc:  # no usable rate: no retry will change it
            refused = exc.message
        except Unavailable as exc:
            log.warning("billing unreachable at approval %s (%s): queued unchecked", event.event_id, exc.message)
            checked = False
        async with transaction(self._sessions) as session:
            job = await repo.job_by_event(session, event.event_id)
            if job is not None:
                return job
            # One job per post at a time: the post row lock serialises racing events (and dispatcher replicas).
            await repo.lock_post_key(session, event.tenant_id, event.social_post_id)
            in_flight = await repo.active_job_for_post(session, event.tenant_id, event.social_post_id)
            if in_flight is not None:
                await repo.log_event(
                    session,
                    in_flight.job_id,
                    "event ignored: a job for this post is in flight",
                    level="warn",
                    event_id=event.event_id,
                )
                return None
            latest = await repo.latest_job_for_post(session, event.tenant_id, event.social_post_id)
            if not after_success and latest is not None and latest.status == "succeeded":
                await repo.log_event(
                    session,
                    latest.job_id,
                    "approval ignored: this post's video was already made (a rejection re-runs it)",
                    level="warn",
                    event_id=event.event_id,
                )
                return None
            if checked and not refused:
                refused = await self.credit_check(session, event.tenant_id, need) or ""
            return await self._create_job(session, event, values, unlinked_media, need, refused)

    async def _create_job(
        self, session: AsyncSession, event: Any, values: dict[str, Any], unlinked: int, need: int, refused: str
    ) -> Any:
        job = await repo.insert_job(
            session,
            {
                "job_id": domain.new_job_id(),
                "tenant_id": event.tenant_id,
                "social_post_id": event.social_post_id,
                "source_event_id": event.event_id,
                "run": await repo.next_run(session, event.tenant_id, event.social_post_id),
                "status": "failed" if refused else "queued",
                "step": "unspecified",
                "progress": 0,
                "credits_needed": need,
                "trace_id": current_trace_id(),
                # Until admitted, the deadline is the queue's ceiling; admission sets the job's own from then on.
                "deadline_at": domain.deadline_after(utcnow(), self.queue_max_wait_s),
                **({"error": refused, "failed_phase": "reserving"} if refused else {}),
                **values,
            },
        )
        await repo.upsert_post(
            session,
            event.tenant_id,
            event.social_post_id,
            platform=job.platform,
            platform_format=job.platform_format,
            status="dm_review" if refused else "design_pending",
            deliverable_status="failed" if refused else "generating",
            current_job_id=job.job_id,
            status_reason=refused,
        )
        metadata: dict[str, Any] = {
            "event_id": event.event_id,
            "run": job.run,
            "wake_reason": job.wake_reason,
            "step": job.step,
            "percent": job.progress,
        }
        if job.reviewer_feedback:
            metadata |= {"reviewer_feedback": job.reviewer_feedback, "media_unlinked": unlinked}
        await repo.log_event(session, job.job_id, "job created", **metadata)
        job_started(job)  # once per job: a redelivered event finds it by `source_event_id` and creates nothing
        if refused:
            await repo.log_event(session, job.job_id, f"job failed at reserving: {refused}", level="error")
            job_finished(job)
        return job

    async def client_approved(self, event: upstream_pb2.ClientApproved) -> None:
        domain.validate_ids(event)
        async with transaction(self._sessions) as session:
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
                session, event.tenant_id, event.social_post_id, status="approved", deliverable_status="approved"
            )
            if post.current_job_id:
                await repo.log_event(session, post.current_job_id, "client approved the video", event_id=event.event_id)
        await self.lifecycle.outbound.post_status(
            event.tenant_id,
            event.social_post_id,
            post.current_job_id or "",
            c.POST_STATUS_APPROVED,
            c.DELIVERABLE_STATUS_APPROVED,
            f"approved:{event.event_id}",
            media_id=post.media_id or "",
        )
