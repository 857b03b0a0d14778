"""Motion prompt and poll schedule (pure)."""

from __future__ import annotations

import pytest

from social_video.v1 import common_pb2 as c
from video_gateway.motion import CONSTRAINTS, MAX_PROMPT, MOTION_MAP, motion_prompt
from video_gateway.polling import ErrorKind, PollSchedule


def test_prompt_combines_content_platform_and_constraints() -> None:
    prompt = motion_prompt(c.CONTENT_TYPE_PROMOTIONAL, c.PLATFORM_TIKTOK)
    assert prompt.startswith(MOTION_MAP[c.CONTENT_TYPE_PROMOTIONAL])
    assert "vertical short-form" in prompt
    assert prompt.endswith(CONSTRAINTS)
    assert "Reviewer feedback" not in prompt


def test_feedback_is_included_and_bounded() -> None:
    prompt = motion_prompt(c.CONTENT_TYPE_UGC, c.PLATFORM_INSTAGRAM, "Less   shaky,\nplease " + "x" * 2000)
    assert "Reviewer feedback to address: Less shaky, please" in prompt
    assert prompt.endswith(CONSTRAINTS)  # the constraints survive a long feedback
    assert len(prompt) <= MAX_PROMPT


def test_every_content_type_has_a_motion() -> None:
    assert set(MOTION_MAP) == {v for v in c.ContentType.values() if v != c.CONTENT_TYPE_UNSPECIFIED}


def test_unknown_content_type_and_platform_still_give_a_prompt() -> None:
    prompt = motion_prompt(c.CONTENT_TYPE_UNSPECIFIED, c.PLATFORM_UNSPECIFIED)
    assert prompt.endswith(CONSTRAINTS) and len(prompt) > len(CONSTRAINTS)


DEFAULT = PollSchedule(45, 30, 15)


def test_checks_are_due_at_45_then_every_30_seconds() -> None:
    assert [DEFAULT.due_at(k) for k in (1, 2, 3, 15)] == [45, 75, 105, 45 + 14 * 30]
    assert DEFAULT.window_s == 465


def test_first_check_waits_from_the_submission_time() -> None:
    assert DEFAULT.first_due_in(10) == 35
    assert DEFAULT.first_due_in(44.99) == 0  # a redelivery a hair early is on time
    assert DEFAULT.first_due_in(50) == 0


@pytest.mark.parametrize(
    ("elapsed", "check"), [(45, 1), (74.9, 1), (75, 2), (104, 2), (105, 3), (465, 15), (10_000, 15)]
)
def test_the_check_number_comes_from_the_time_since_submission(elapsed: float, check: int) -> None:
    # The count of status calls made does not matter: a redelivery after a crash is the same check.
    assert DEFAULT.check_due(elapsed, checks_made=99) == check
    assert DEFAULT.check_due(elapsed, checks_made=1) == check


def test_next_delay_is_computed_from_the_anchor_so_lateness_does_not_accumulate() -> None:
    assert DEFAULT.wait_for(2, 45.0) == 30
    assert DEFAULT.wait_for(2, 47.5) == 27.5  # this check ran 2.5 s late; the next is still at 75 s
    assert DEFAULT.wait_for(2, 80) == 0


def test_exhausted_after_the_last_check() -> None:
    assert not DEFAULT.exhausted(14)
    assert DEFAULT.exhausted(15)


def test_without_an_interval_every_delivery_is_a_check() -> None:
    schedule = PollSchedule(0, 0, 3)
    assert schedule.first_due_in(0) == 0
    assert [schedule.check_due(0, n) for n in (1, 2, 3, 4)] == [1, 2, 3, 3]


def test_a_transient_error_waits_for_the_next_tick_and_times_out_on_the_last_check() -> None:
    assert DEFAULT.after_error(3, 106, ErrorKind.TRANSIENT, None) == 29
    assert DEFAULT.after_error(15, 466, ErrorKind.TRANSIENT, None) is None


def test_a_rate_limit_waits_for_retry_after_but_never_past_the_window() -> None:
    assert DEFAULT.after_error(3, 106, ErrorKind.RATE_LIMITED, 7) == 7
    assert DEFAULT.after_error(15, 466, ErrorKind.RATE_LIMITED, 7) == 7  # the last check is retried, once
    assert DEFAULT.after_error(15, 490, ErrorKind.RATE_LIMITED, 10) is None
    assert DEFAULT.after_error(3, 106, ErrorKind.RATE_LIMITED, None) == 29  # no Retry-After: next tick


def test_the_window_starts_when_the_provider_starts_the_task() -> None:
    schedule = PollSchedule(45, 30, 15, queue_max_s=600)
    # Before the start the clock is the time since submission; after it, the first check's delay plus the time since.
    assert schedule.elapsed_since(500.0, None) == 500.0
    assert schedule.elapsed_since(500.0, 0.0) == 45.0
    # Throttled for 10 minutes, then started 30 s ago: check 2 of 15, nowhere near the end of the window.
    assert schedule.check_due(schedule.elapsed_since(630.0, 30.0), 20) == 2
    assert not schedule.exhausted(schedule.check_due(schedule.elapsed_since(630.0, 30.0), 20))
    # The ceiling on waiting in the provider's queue counts from the first check.
    assert not schedule.waited_too_long(644.0) and schedule.waited_too_long(645.0)
