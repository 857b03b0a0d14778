"""A review of a job's video: checked against the post (its latest job, succeeded, waiting for review), recorded with
the API key and the person who decided (`operator_actions` and the job's event log), then published as the upstream
event, exactly as the router publishes it (proto3 JSON on `social.post.*`), for the dispatcher's own consumers to
act on like any upstream decision.

The record comes first and names the event: a repeat of the same request (or a retry after a failed publish)
publishes the recorded event again, which the bus stores once (its id is the de-duplication id).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatcher import repository as repo
from dispatcher.operations import records
from dispatcher.review.domain import Review
from svd.bus.publisher import EventPublisher
from svd.db import transaction
from svd.errors import FailedPrecondition, NotFound

log = logging.getLogger(__name__)

REVIEW = "post.review"
REVIEWABLE_JOB = "succeeded"
REVIEWABLE_POST = "client_review"


@dataclass
class VideoReviews:
    sessions: async_sessionmaker[AsyncSession]
    publisher: EventPublisher

    async def review(self, review: Review, key_id: str, can_see: Callable[[str], bool]) -> str:
        """Record and publish `review` by the caller (`key_id`; `can_see(tenant_id)` says whether it may see the
        job); returns the event id."""
        request_key = f"review:{review.job_id}:{review.request_id}"
        async with transaction(self.sessions) as session:
            job = await repo.job(session, review.job_id)
            if job is None or not can_see(job.tenant_id):
                raise NotFound(f"job {review.job_id} not found")
            await repo.lock_post_key(session, job.tenant_id, job.social_post_id)
            if await records.recorded(session, request_key) is None:
                await self._check(session, job)
                who = review.reviewed_by or f"key {key_id}"
                verb = "approved" if review.approve else "rejected"
                await records.record(
                    session,
                    key_id,
                    REVIEW,
                    f"{job.tenant_id}/{job.social_post_id}",
                    job_id=job.job_id,
                    request_key=request_key,
                    message=f"{review.reviewer} {verb} the video ({who})"
                    + (f": {review.feedback}" if review.feedback else ""),
                    reviewer=review.reviewer,
                    decision="approve" if review.approve else "reject",
                    reviewed_by=review.reviewed_by,
                    subject=review.subject,
                    event_id=review.event_id,
                )
        await self.publisher.publish_json(
            review.subject, review.event(job.tenant_id, job.social_post_id), review.event_id
        )
        log.info("job %s: %s published by key %s (%s)", job.job_id, review.subject, key_id, review.event_id)
        return review.event_id

    @staticmethod
    async def _check(session: AsyncSession, job: Any) -> None:
        latest = await repo.latest_job_for_post(session, job.tenant_id, job.social_post_id)
        if latest is not None and latest.job_id != job.job_id:
            raise FailedPrecondition(f"post {job.social_post_id} has a newer job ({latest.job_id}): review that one")
        if job.status != REVIEWABLE_JOB:
            raise FailedPrecondition(f"job {job.job_id} is {job.status}: only a finished video can be reviewed")
        post = await repo.post(session, job.tenant_id, job.social_post_id)
        if post is None or post.status != REVIEWABLE_POST:
            status = post.status if post is not None else "unknown"
            raise FailedPrecondition(f"post {job.social_post_id} is {status}, not waiting for review")
