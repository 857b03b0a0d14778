"""Where a retried job starts (pure): failed jobs only, and a known provider task resumed rather than paid again."""

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


def test_a_paid_provider_task_is_resumed_not_paid_again() -> None:
    for phase in ("polling", "storing"):
        assert start_step("failed", phase, "task-1", ANY) == c.JOB_STEP_POLLING
        assert start_step("failed", phase, "task-1", c.JOB_STEP_POLLING) == c.JOB_STEP_POLLING
        # Starting over (a new still, a new paid task) only when asked.
        assert start_step("failed", phase, "task-1", c.JOB_STEP_STILL_FRAME) == c.JOB_STEP_STILL_FRAME
    with pytest.raises(InvalidArgument):
        start_step("failed", "storing", "task-1", c.JOB_STEP_STORING)


def test_only_a_known_provider_task_is_resumed() -> None:
    for phase, task in (("polling", ""), ("submitting", "task-1"), ("still_frame", "")):
        assert start_step("failed", phase, task, ANY) == c.JOB_STEP_STILL_FRAME
        with pytest.raises(FailedPrecondition, match="no provider task to resume"):
            start_step("failed", phase, task, c.JOB_STEP_POLLING)


def test_each_attempt_holds_credits_under_its_own_key() -> None:
    assert hold_key("j", 1) == "job:j"  # what jobs before retries existed used
    assert hold_key("j", 2) != hold_key("j", 1) and hold_key("j", 2) != hold_key("j", 3)
