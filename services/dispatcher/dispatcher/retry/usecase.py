"""`RetryJob`: a failed job runs again as a new attempt, recorded with the API key that asked for it.

The attempt runs the pipeline under a new run number of the post (every service keys its work, claims, objects and
message ids by run, so nothing of the failed attempt is taken for the new one, and late events of the old attempt are
recognised as stale). Credits are reserved again under a hold of the attempt's own (the failed attempt's hold was
released, so the video is charged once, by the attempt that delivers it). A job that failed at polling or storing
resumes its provider task (see `retry.domain`): the attempt keeps the task and, once credits are held, the gateway is
asked to poll it under the new run; the provider is not paid again. The same `request_id` retries once: a repeat
answers the job as it is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from dispatcher import domain
from dispatcher import repository as repo
from dispatcher.operations import records
from dispatcher.retry.domain import start_step
from dispatcher.usecases.lifecycle import JobLifecycle
from social_video.v1 import common_pb2 as c
from svd.db import transaction
from svd.enums import short_name
from svd.errors import FailedPrecondition, InvalidArgument, NotFound
from svd.timeutil import utcnow

log = logging.getLogger(__name__)

MAX_REQUEST_ID = 200
RETRY = "job.retry"


@dataclass
class JobRetries:
    lifecycle: JobLifecycle

    async def retry(self, job_id: str, from_step: int, request_id: str, key_id: str) -> Any:
        """Start the next attempt of `job_id` (see the module); the job row as it is afterwards."""
        request_id = request_id.strip()
        if not request_id or len(request_id) > MAX_REQUEST_ID:
            raise InvalidArgument(f"request_id is required (1-{MAX_REQUEST_ID} characters)")
        request_key = f"retry:{job_id}:{request_id}"
        async with transaction(self.lifecycle.sessions) as session:
            job = await repo.job(session, job_id)
            if job is None:
                raise NotFound(f"job {job_id} not found")
            # One job per post at a time, as for approvals (the post lock serialises them).
            await repo.lock_post_key(session, job.tenant_id, job.social_post_id)
            job = await repo.job(session, job_id, lock=True)
            assert job is not None  # jobs are never deleted
            if await records.recorded(session, request_key) is not None:
                return job  # this request already started its attempt
            step = start_step(job.status, job.failed_phase, job.provider_job_id, from_step)
            latest = await repo.latest_job_for_post(session, job.tenant_id, job.social_post_id)
            if latest is not None and latest.job_id != job_id:
                raise FailedPrecondition(f"post {job.social_post_id} has a newer job ({latest.job_id}); retry that one")
            resume_from_run = job.run if step == c.JOB_STEP_POLLING else 0
            job = await self._next_attempt(session, job, step, request_key, key_id)
        await self.lifecycle.advance(job, resume_from_run=resume_from_run)
        async with self.lifecycle.sessions() as session:
            return await repo.job(session, job_id)

    async def _next_attempt(self, session: Any, job: Any, step: int, request_key: str, key_id: str) -> Any:
        attempt = job.attempt + 1
        run = await repo.next_run(session, job.tenant_id, job.social_post_id)
        previous = {"error": job.error, "failed_phase": job.failed_phase, "run": job.run}
        # Resuming keeps the provider task (and what made it); starting over forgets it.
        task = (
            {"provider": job.provider, "provider_job_id": job.provider_job_id, "motion_prompt": job.motion_prompt}
            if step == c.JOB_STEP_POLLING
            else {"provider": "", "provider_job_id": "", "motion_prompt": ""}
        )
        job = await repo.update_job(
            session,
            job.job_id,
            status="running",
            step="reserving",
            progress=domain.progress_for(c.JOB_STEP_RESERVING),
            error="",
            failed_phase="",
            reservation_id="",
            credits_reserved=0,
            credits_consumed=0,
            **task,
            still_key="",
            media_id="",
            object_key="",
            attempt=attempt,
            run=run,
            deadline_at=domain.deadline_after(utcnow(), self.lifecycle.job_deadline_s),
            # An operator's retry is admitted at once (it counts against the caps from now on); admission resumes
            # its start if this replica dies before the design request goes out.
            admitted_at=utcnow(),
            started_at=None,
            label="",
        )
        await repo.upsert_post(
            session,
            job.tenant_id,
            job.social_post_id,
            platform=job.platform,
            platform_format=job.platform_format,
            status="generating_video",
            deliverable_status="generating",
            current_job_id=job.job_id,
            status_reason="",
        )
        await records.record(
            session,
            key_id,
            RETRY,
            job.job_id,
            job_id=job.job_id,
            request_key=request_key,
            message=f"attempt {attempt} started by an operator from {short_name(c.JobStep, step)}"
            + (f" (resuming {job.provider} task {job.provider_job_id})" if step == c.JOB_STEP_POLLING else ""),
            attempt=attempt,
            run=run,
            from_step=short_name(c.JobStep, step),
            previous=previous,
            step=job.step,
            percent=job.progress,
        )
        log.warning("job %s: attempt %d (run %d) started by key %s", job.job_id, attempt, run, key_id)
        return job
