"""Use cases that end jobs the pipeline can no longer finish: a message about the job was dead-lettered, or the job
is past its deadline. Either way the job fails clearly (phase and reason), its hold is released, its provider task
is cancelled and its post goes to DM review — so no job stays `running` and no post stays blocked.

Both are safe with several dispatcher replicas and with redeliveries: ending a job happens under its row lock and
only once (`JobLifecycle._end` leaves an ended job alone).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from google.protobuf.message import Message

from dispatcher import repository as repo
from dispatcher.usecases.lifecycle import JobLifecycle
from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2, upstream_pb2
from svd.bus import codec, topology
from svd.db import transaction
from svd.timeutil import utcnow

log = logging.getLogger(__name__)

# What each pipeline subject carries, and the phase its loss fails the job in (None: the job's current step).
_PIPELINE: dict[str, tuple[type[Message], int | None]] = {
    topology.DESIGN_REQUESTED: (pipeline_pb2.DesignRequested, c.JOB_STEP_STILL_FRAME),
    topology.STILL_READY: (pipeline_pb2.StillReady, c.JOB_STEP_SUBMITTING),
    topology.SUBMITTED: (pipeline_pb2.VideoSubmitted, c.JOB_STEP_SUBMITTING),
    topology.POLL: (pipeline_pb2.VideoPoll, c.JOB_STEP_POLLING),
    topology.READY: (pipeline_pb2.VideoReady, c.JOB_STEP_STORING),
    topology.STORED: (pipeline_pb2.VideoStored, c.JOB_STEP_STORING),
    topology.FAILED: (pipeline_pb2.VideoFailed, None),
}
# Upstream events that start or re-run a job: the job is found by the event that created it.
_UPSTREAM: dict[str, type[Message]] = {
    topology.COPY_APPROVED: upstream_pb2.CopyApproved,
    topology.DESIGN_REJECTED: upstream_pb2.DesignRejected,
    topology.CLIENT_REJECTED: upstream_pb2.ClientRejected,
}
SWEEP_BATCH = 100
PRUNE_BATCH = 10_000


@dataclass
class Recovery:
    lifecycle: JobLifecycle

    async def dead_lettered(self, letter: pipeline_pb2.DeadLetter) -> None:
        """Fail the job a dead-lettered event belongs to, if it is known and still active."""
        subject = letter.original_subject
        job = await self._job_of(letter)
        if job is None or job.status not in repo.ACTIVE_STATUSES:
            return
        if job.deadline_at <= utcnow():
            # Its messages gave up because the job ran out of time: say so, as the sweeper would.
            await self._time_out(job)
            return
        phase = _PIPELINE[subject][1] if subject in _PIPELINE else None
        if phase is None:
            phase = c.JobStep.Value(f"JOB_STEP_{job.step.upper()}")
        reason = f"{subject} could not be processed: {letter.reason}"
        log.warning("failing job %s: %s", job.job_id, reason)
        await self.lifecycle.fail(job.job_id, phase, reason, stop_provider=True)

    async def _job_of(self, letter: pipeline_pb2.DeadLetter) -> Any | None:
        subject = letter.original_subject
        headers = dict(letter.headers)
        try:
            if subject in _PIPELINE:
                event: Any = codec.decode(letter.payload, headers, _PIPELINE[subject][0])
                job_id = event.ref.job_id
                if not job_id:
                    return None
                async with self.lifecycle.sessions() as session:
                    job = await repo.job(session, job_id)
                # A letter of an earlier attempt (before a retry) ends nothing of the attempt running now.
                return job if job is None or not event.ref.run or event.ref.run == job.run else None
            if subject in _UPSTREAM:
                event = codec.decode(letter.payload, headers, _UPSTREAM[subject])
                if not event.event_id:
                    return None
                async with self.lifecycle.sessions() as session:
                    return await repo.job_by_event(session, event.event_id)
        except codec.UndecodableMessage:
            return None  # dead-lettered because it could not be read: it names no job we could know
        # Progress, cancellations, client approvals and letters about letters end no job.
        return None

    async def sweep(self) -> int:
        """Fail every active job past its deadline (a batch at a time); how many this call ended."""
        ended = 0
        while True:
            async with self.lifecycle.sessions() as session:
                overdue = await repo.jobs_past_deadline(session, utcnow(), SWEEP_BATCH)
            for job in overdue:
                ended += await self._time_out(job)
            if len(overdue) < SWEEP_BATCH:
                return ended

    async def prune(self, retention_s: float) -> int:
        """Forget processed-event ids older than `retention_s` (they only de-duplicate late redeliveries), a bounded
        batch at a time; how many were removed."""
        removed = 0
        while True:
            async with transaction(self.lifecycle.sessions) as session:
                batch = await repo.prune_processed(session, utcnow() - timedelta(seconds=retention_s), PRUNE_BATCH)
            removed += batch
            if batch < PRUNE_BATCH:
                return removed

    async def _time_out(self, job: Any) -> int:
        """Fail `job` as timed out at its current step (or in the queue: its deadline there is the queue's ceiling,
        ADMISSION_QUEUE_MAX_WAIT_S); 1 if this call ended it."""
        reason = (
            "timeout: not admitted within the queue's limit"
            if job.status == "queued"
            else f"timeout: stuck at {job.step}"
        )
        result = await self.lifecycle.fail(
            job.job_id, c.JobStep.Value(f"JOB_STEP_{job.step.upper()}"), reason, stop_provider=True
        )
        return int(result is not None and result.error == reason)
