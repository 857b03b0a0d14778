"""Where a retried job starts again (pure): only a failed job is retried, and never so that a provider task already
paid for is paid again without the operator asking for it."""

from __future__ import annotations

from social_video.v1 import common_pb2 as c
from svd.enums import short_name
from svd.errors import FailedPrecondition, InvalidArgument

# Steps after which the provider has been paid for a task of this attempt.
_PAID_STEPS = ("submitting", "polling", "storing")
# Where an attempt can start today: the whole pipeline from the still frame (credits reserved again first).
STARTS = (c.JOB_STEP_STILL_FRAME,)


def start_step(status: str, failed_phase: str, provider_job_id: str, from_step: int) -> int:
    """The step the new attempt starts at, or why the job cannot be retried (FailedPrecondition / InvalidArgument)."""
    if status != "failed":
        raise FailedPrecondition(f"the job is {status}; only a failed (or timed-out) job can be retried")
    if from_step not in (c.JOB_STEP_UNSPECIFIED, *STARTS):
        names = ", ".join(short_name(c.JobStep, step) for step in STARTS)
        raise InvalidArgument(f"from_step must be one of: {names} (got {short_name(c.JobStep, from_step)})")
    if from_step == c.JOB_STEP_UNSPECIFIED and provider_job_id and failed_phase in _PAID_STEPS:
        raise FailedPrecondition(
            f"the job failed at {failed_phase} after its provider task {provider_job_id} was paid for; resuming that "
            "task is not supported, so a retry would pay for a new one: pass from_step still_frame to do that"
        )
    return c.JOB_STEP_STILL_FRAME
