"""Dispatcher rules: routing, approval options, progress."""

from __future__ import annotations

import pytest

from dispatcher import domain
from social_video.v1 import common_pb2 as c
from social_video.v1 import upstream_pb2
from svd.errors import InvalidArgument


def approval(**overrides: object) -> upstream_pb2.CopyApproved:
    event = upstream_pb2.CopyApproved(
        event_id="e",
        tenant_id="t",
        social_post_id="p",
        platform=c.PLATFORM_INSTAGRAM,
        platform_format=c.PLATFORM_FORMAT_REEL,
        content_type=c.CONTENT_TYPE_PROMOTIONAL,
        copy=c.PostCopy(headline="Hello"),
    )
    for name, value in overrides.items():
        setattr(event, name, value)
    return event


@pytest.mark.parametrize(
    ("fmt", "route"),
    [
        (c.PLATFORM_FORMAT_REEL, domain.Route.VIDEO),
        (c.PLATFORM_FORMAT_STORY, domain.Route.VIDEO),
        (c.PLATFORM_FORMAT_TIKTOK, domain.Route.VIDEO),
        (c.PLATFORM_FORMAT_STATIC, domain.Route.IMAGE_DESIGNER),
        (c.PLATFORM_FORMAT_CAROUSEL, domain.Route.IMAGE_DESIGNER),
        (c.PLATFORM_FORMAT_TEXT, domain.Route.IMAGE_DESIGNER),
    ],
)
def test_routing_by_format(fmt: int, route: domain.Route) -> None:
    assert domain.route(fmt) is route


def test_unspecified_format_is_invalid() -> None:
    with pytest.raises(InvalidArgument, match="platform_format"):
        domain.route(c.PLATFORM_FORMAT_UNSPECIFIED)


def test_defaults_are_five_seconds_portrait_silent() -> None:
    assert domain.validate_approval(approval()) == domain.VideoOptions(5, "9:16", False)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"duration_seconds": 7}, "duration_seconds must be 5 or 10"),
        ({"duration_seconds": 10, "platform_format": c.PLATFORM_FORMAT_STORY}, "stories are at most 5"),
        ({"aspect_ratio": "16:9"}, "aspect_ratio must be"),
        ({"aspect_ratio": "1:1"}, "only allowed for facebook reels"),
        ({"event_id": ""}, "event_id is required"),
        ({"content_type": c.CONTENT_TYPE_UNSPECIFIED}, "content_type is required"),
    ],
)
def test_bad_options_are_refused_with_a_clear_reason(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        domain.validate_approval(approval(**overrides))


def test_square_is_allowed_for_facebook_reels() -> None:
    options = domain.validate_approval(approval(platform=c.PLATFORM_FACEBOOK, aspect_ratio="1:1", duration_seconds=10))
    assert options == domain.VideoOptions(10, "1:1", False)


def test_progress_moves_forward_only() -> None:
    assert domain.progress_for(c.JOB_STEP_POLLING, 0) == 40
    assert domain.progress_for(c.JOB_STEP_POLLING, 100) == 88
    assert domain.progress_for(c.JOB_STEP_DONE) == 100
    assert domain.advances(c.JOB_STEP_STILL_FRAME, 15, c.JOB_STEP_POLLING, 40)
    assert not domain.advances(c.JOB_STEP_POLLING, 60, c.JOB_STEP_POLLING, 50)
    assert not domain.advances(c.JOB_STEP_STORING, 90, c.JOB_STEP_STILL_FRAME, 15)
