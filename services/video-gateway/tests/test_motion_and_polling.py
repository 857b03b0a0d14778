"""Motion prompt and poll schedule (pure)."""

from __future__ import annotations

from social_video.v1 import common_pb2 as c
from video_gateway.motion import CONSTRAINTS, MAX_PROMPT, MOTION_MAP, motion_prompt
from video_gateway.polling import PollSchedule


def test_prompt_combines_content_platform_and_constraints() -> None:
    prompt = motion_prompt(c.CONTENT_TYPE_PROMOTIONAL, c.PLATFORM_TIKTOK)
    assert prompt.startswith(MOTION_MAP[c.CONTENT_TYPE_PROMOTIONAL])
    assert "vertical short-form" in prompt
    assert prompt.endswith(CONSTRAINTS)


def test_feedback_is_included_and_bounded() -> None:
    prompt = motion_prompt(c.CONTENT_TYPE_UGC, c.PLATFORM_INSTAGRAM, "Less   shaky,\nplease " + "x" * 2000)
    assert "Reviewer feedback to address: Less shaky, please" in prompt
    assert len(prompt) <= MAX_PROMPT


def test_every_content_type_has_a_motion() -> None:
    assert set(MOTION_MAP) == {v for v in c.ContentType.values() if v != c.CONTENT_TYPE_UNSPECIFIED}


def test_schedule_defaults_match_the_design() -> None:
    schedule = PollSchedule(45, 30, 15)
    assert schedule.wait_before_first_check(10) == 35
    assert schedule.wait_before_first_check(50) == 0
    assert schedule.check_number(2) == 1
    assert not schedule.exhausted(14)
    assert schedule.exhausted(15)
    assert schedule.window_s == 45 + 14 * 30


def test_without_initial_delay_every_delivery_is_a_check() -> None:
    assert PollSchedule(0, 0, 3).check_number(1) == 1
