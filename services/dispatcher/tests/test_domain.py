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


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: setattr(e, "event_id", "  "), "event_id is required"),
        (lambda e: setattr(e, "tenant_id", "t" * 129), "tenant_id is longer than 128 characters"),
        (lambda e: setattr(e.copy, "headline", " "), "copy.headline is required"),
        (lambda e: setattr(e.copy, "body", "b" * 5001), "copy.body is longer than 5000 characters"),
        (lambda e: setattr(e.copy, "cta", "c" * 201), "copy.cta is longer than 200 characters"),
        (lambda e: e.copy.hashtags.extend(["h"] * 61), "copy.hashtags has more than 60 entries"),
        (lambda e: e.copy.hashtags.append("h" * 141), "a hashtag is longer than 140 characters"),
    ],
)
def test_ids_and_copy_of_sane_size(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    event = approval()
    mutate(event)
    with pytest.raises(InvalidArgument, match=message):
        domain.validate_approval(event)


def test_limits_are_inclusive() -> None:
    event = approval(tenant_id="t" * 128)
    event.copy.body = "b" * 5000
    event.copy.hashtags.extend(["h" * 140] * 60)
    assert domain.validate_approval(event).duration_seconds == 5


def test_reviewer_feedback_has_a_limit() -> None:
    domain.validate_feedback("f" * 4000)
    with pytest.raises(InvalidArgument, match="reviewer_feedback is longer than 4000 characters"):
        domain.validate_feedback("f" * 4001)


def test_rejections_are_checked_for_ids_too() -> None:
    with pytest.raises(InvalidArgument, match="social_post_id is required"):
        domain.validate_ids(upstream_pb2.ClientRejected(event_id="e", tenant_id="t"))


@pytest.mark.parametrize("bad", ["post 1", "a/b", "..", ".", ".hidden", "a:b", "é", "a\\b"])
def test_ids_the_object_keys_cannot_hold_are_refused_upstream(bad: str) -> None:
    with pytest.raises(InvalidArgument, match=r"social_post_id .* is not a valid id"):
        domain.validate_approval(approval(social_post_id=bad))
    with pytest.raises(InvalidArgument, match=r"tenant_id .* is not a valid id"):
        domain.validate_ids(upstream_pb2.ClientRejected(event_id="e", tenant_id=bad, social_post_id="p"))


def test_ids_with_dots_inside_are_fine() -> None:
    domain.validate_ids(upstream_pb2.ClientRejected(event_id="e 1", tenant_id="acme.co", social_post_id="p-1_2.v3"))


def test_unknown_enum_values_are_refused_not_guessed() -> None:
    with pytest.raises(InvalidArgument, match="unknown Platform value 99"):
        domain.validate_approval(approval(platform=99))
    with pytest.raises(InvalidArgument, match="unknown ContentType value 42"):
        domain.validate_approval(approval(content_type=42))
