"""Where a retried job starts (pure): failed jobs only, and never a second payment for a provider task unasked."""

from __future__ import annotations

import pytest

from dispatcher.domain import hold_key
from dispatcher.retry.domain import start_step
from social_video.v1 import common_pb2 as c
from svd.errors import FailedPrecondition, InvalidArgument

ANY = c.JOB_STEP_UNSPECIFIED


def test_only_failed_jobs_are_retried() -> None:
    for status in ("succeeded", "running", "queued", "cancelled"):
        with pytest.raises(FailedPrecondition, match=f"the job is {status}"):
            start_step(status, "", "", ANY)


def test_a_job_that_failed_before_paying_a_provider_starts_again_at_the_still() -> None:
    assert start_step("failed", "still_frame", "", ANY) == c.JOB_STEP_STILL_FRAME
    assert start_step("failed", "reserving", "", ANY) == c.JOB_STEP_STILL_FRAME
    assert start_step("failed", "submitting", "", ANY) == c.JOB_STEP_STILL_FRAME


def test_a_paid_provider_task_is_paid_again_only_when_asked() -> None:
    for phase in ("polling", "storing"):
        with pytest.raises(FailedPrecondition, match="from_step still_frame"):
            start_step("failed", phase, "task-1", ANY)
        assert start_step("failed", phase, "task-1", c.JOB_STEP_STILL_FRAME) == c.JOB_STEP_STILL_FRAME
    with pytest.raises(InvalidArgument):
        start_step("failed", "storing", "task-1", c.JOB_STEP_STORING)


def test_each_attempt_holds_credits_under_its_own_key() -> None:
    assert hold_key("j", 1) == "job:j"  # what jobs before retries existed used
    assert hold_key("j", 2) != hold_key("j", 1) and hold_key("j", 2) != hold_key("j", 3)
