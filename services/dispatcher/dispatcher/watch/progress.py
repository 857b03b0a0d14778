"""What a `WatchJob` stream sends, from the job and its event log (pure): one update per step or percent forward."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dispatcher import domain
from social_video.v1 import common_pb2, jobs_pb2
from svd.enums import from_short_name

Position = tuple[int, int]  # (step, percent): a stream only ever moves forward


def update(job: jobs_pb2.Job, step: int, percent: int, label: str, terminal: bool = False) -> jobs_pb2.WatchJobResponse:
    if terminal and job.status in (common_pb2.JOB_STATUS_FAILED, common_pb2.JOB_STATUS_CANCELLED):
        label = job.error
    return jobs_pb2.WatchJobResponse(
        job=job,
        step=step,  # type: ignore[arg-type]
        label=label or domain.step_label(step),
        percent=percent,
        terminal=terminal,
    )


def first(job: jobs_pb2.Job) -> tuple[jobs_pb2.WatchJobResponse, Position]:
    """The job as it is when the stream opens."""
    return update(job, job.step, job.progress, job.label), (job.step, job.progress)


def queue_moved(job: jobs_pb2.Job, shown: jobs_pb2.WatchJobResponse) -> jobs_pb2.WatchJobResponse | None:
    """An update when a waiting job's place in the queue changed since `shown` was sent (None otherwise)."""
    if job.status != common_pb2.JOB_STATUS_QUEUED or job.queue_position == shown.job.queue_position:
        return None
    return update(job, job.step, job.progress, job.label)


def advances(
    job: jobs_pb2.Job, events: Iterable[Any], last: Position
) -> tuple[list[jobs_pb2.WatchJobResponse], Position]:
    """An update for each logged progress event past `last` (events without a step, or behind, are skipped)."""
    updates = []
    for event in events:
        if "step" not in event.metadata:
            continue
        position = (from_short_name(common_pb2.JobStep, event.metadata["step"]), int(event.metadata.get("percent", 0)))
        if position > last or (position == last and event.metadata.get("label_only")):
            last = position
            updates.append(update(job, position[0], position[1], event.message))
    return updates, last


def is_terminal(job: jobs_pb2.Job) -> bool:
    return job.status in domain.TERMINAL_JOB_STATUSES


def last(job: jobs_pb2.Job) -> jobs_pb2.WatchJobResponse:
    """The closing update of a job that ended."""
    return update(job, job.step, job.progress, "", terminal=True)
