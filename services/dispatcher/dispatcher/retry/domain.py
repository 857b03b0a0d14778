"""Where a retried job starts again (pure): only a failed job is retried, and a provider task already paid for is
resumed rather than paid again.

A job that failed at `polling` (timed out while the provider kept working) or at `storing` (the download or the
upload failed) after its provider task was made resumes that task: the gateway asks the provider for it again (no new
submit) and media-store stores its output. `from_step still_frame` starts over instead (a new still, a new paid task).
"""

from __future__ import annotations

from social_video.v1 import common_pb2 as c
from svd.enums import short_name
from svd.errors import FailedPrecondition, InvalidArgument

# Steps after which a provider task of the attempt exists and can be fetched again.
_RESUMABLE = ("polling", "storing")
# Where an attempt can start: from the still frame (everything again), or at polling (the known provider task).
STARTS = (c.JOB_STEP_STILL_FRAME, c.JOB_STEP_POLLING)


def start_step(status: str, failed_phase: str, provider_job_id: str, from_step: int) -> int:
    """The step the new attempt starts at, or why the job cannot be retried (FailedPrecondition / InvalidArgument)."""
    if status != "failed":
        raise FailedPrecondition(f"the job is {status}; only a failed (or timed-out) job can be retried")
    if from_step not in (c.JOB_STEP_UNSPECIFIED, *STARTS):
        names = ", ".join(short_name(c.JobStep, step) for step in STARTS)
        raise InvalidArgument(f"from_step must be one of: {names} (got {short_name(c.JobStep, from_step)})")
    resumable = bool(provider_job_id) and failed_phase in _RESUMABLE
    if from_step == c.JOB_STEP_POLLING and not resumable:
        raise FailedPrecondition(
            f"the job failed at {failed_phase or 'an unknown step'} with no provider task to resume; retry it from "
            "still_frame"
        )
    if from_step == c.JOB_STEP_STILL_FRAME or not resumable:
        return c.JOB_STEP_STILL_FRAME
    return c.JOB_STEP_POLLING
