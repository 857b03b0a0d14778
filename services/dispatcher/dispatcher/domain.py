"""Pure dispatcher rules: routing by format, approval options, the state machine and progress labels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from social_video.v1 import common_pb2 as c
from social_video.v1 import upstream_pb2
from svd.enums import short_name
from svd.errors import InvalidArgument
from svd.ids import new_id
from svd.keys import ID_RULE, is_safe_segment

VIDEO_FORMATS = frozenset({c.PLATFORM_FORMAT_REEL, c.PLATFORM_FORMAT_STORY, c.PLATFORM_FORMAT_TIKTOK})
IMAGE_FORMATS = frozenset({c.PLATFORM_FORMAT_STATIC, c.PLATFORM_FORMAT_CAROUSEL, c.PLATFORM_FORMAT_TEXT})
DURATIONS = (5, 10)
STORY_MAX_DURATION = 5
ASPECT_RATIOS = ("9:16", "1:1")
# The provider used for the conservative hold: the most expensive one we may fall back to.
CONSERVATIVE_PROVIDER = c.VIDEO_PROVIDER_RUNWAY
# Sane sizes: the upstream app's own limits with margin; anything bigger is a bug upstream, not a post.
MAX_ID = 128
MAX_HEADLINE = 300
MAX_BODY = 5000
MAX_CTA = 200
MAX_HASHTAGS = 60
MAX_HASHTAG = 140
MAX_FEEDBACK = 4000


class Route(Enum):
    VIDEO = "video"
    IMAGE_DESIGNER = "image_designer"


def route(platform_format: int) -> Route:
    """Video formats become jobs; image formats go to the image designer untouched."""
    if platform_format in VIDEO_FORMATS:
        return Route.VIDEO
    if platform_format in IMAGE_FORMATS:
        return Route.IMAGE_DESIGNER
    raise InvalidArgument(f"unknown platform_format {platform_format}")


@dataclass(frozen=True)
class VideoOptions:
    duration_seconds: int
    aspect_ratio: str
    with_audio: bool


def new_job_id() -> str:
    return new_id()


def validate_ids(event: object) -> None:
    """Every upstream event names itself, its tenant and its post. Tenant and post ids name objects in storage, so
    they follow the object-key rule exactly (checked here, once, before any job exists); the event id only needs to
    be present and of sane length."""
    for name in ("event_id", "tenant_id", "social_post_id"):
        value = getattr(event, name)
        if not value.strip():
            raise InvalidArgument(f"{name} is required")
        if len(value) > MAX_ID:
            raise InvalidArgument(f"{name} is longer than {MAX_ID} characters")
    for name in ("tenant_id", "social_post_id"):
        value = getattr(event, name)
        if not is_safe_segment(value):
            raise InvalidArgument(f"{name} {value!r} is not a valid id ({ID_RULE})")


def enum_name(enum: Any, value: int) -> str:
    """The short name of a known enum value; an unknown one (a newer upstream) is refused, never guessed."""
    try:
        return short_name(enum, value)
    except ValueError as exc:
        raise InvalidArgument(f"unknown {enum.DESCRIPTOR.name} value {value}") from exc


def hold_key(job_id: str, attempt: int) -> str:
    """The idempotency key of a job attempt's credit hold: a redelivery gets the same hold, a retry a new one."""
    return f"job:{job_id}" if attempt <= 1 else f"job:{job_id}:attempt-{attempt}"


def deadline_after(now: datetime, job_deadline_s: int) -> datetime:
    """When a job started at `now` is given up if it has not ended."""
    return now + timedelta(seconds=job_deadline_s)


def validate_feedback(feedback: str) -> None:
    if len(feedback) > MAX_FEEDBACK:
        raise InvalidArgument(f"reviewer_feedback is longer than {MAX_FEEDBACK} characters")


def _validate_copy(copy: c.PostCopy) -> None:
    if not copy.headline.strip():
        raise InvalidArgument("copy.headline is required")
    for name, limit in (("headline", MAX_HEADLINE), ("body", MAX_BODY), ("cta", MAX_CTA)):
        if len(getattr(copy, name)) > limit:
            raise InvalidArgument(f"copy.{name} is longer than {limit} characters")
    if len(copy.hashtags) > MAX_HASHTAGS:
        raise InvalidArgument(f"copy.hashtags has more than {MAX_HASHTAGS} entries")
    if any(len(tag) > MAX_HASHTAG for tag in copy.hashtags):
        raise InvalidArgument(f"a hashtag is longer than {MAX_HASHTAG} characters")


def validate_approval(event: upstream_pb2.CopyApproved) -> VideoOptions:
    """Check the ids, copy and options of a video approval; defaults: 5 s, 9:16, silent."""
    validate_ids(event)
    if event.platform == c.PLATFORM_UNSPECIFIED:
        raise InvalidArgument("platform is required")
    if event.content_type == c.CONTENT_TYPE_UNSPECIFIED:
        raise InvalidArgument("content_type is required")
    enum_name(c.Platform, event.platform)
    enum_name(c.ContentType, event.content_type)
    _validate_copy(event.copy)
    duration = event.duration_seconds if event.HasField("duration_seconds") else 5
    if duration not in DURATIONS:
        raise InvalidArgument(f"duration_seconds must be 5 or 10, got {duration}")
    if event.platform_format == c.PLATFORM_FORMAT_STORY and duration > STORY_MAX_DURATION:
        raise InvalidArgument(f"stories are at most {STORY_MAX_DURATION} seconds, got {duration}")
    aspect = event.aspect_ratio if event.HasField("aspect_ratio") else "9:16"
    if aspect not in ASPECT_RATIOS:
        raise InvalidArgument(f"aspect_ratio must be 9:16 or 1:1, got {aspect!r}")
    if aspect == "1:1" and not (
        event.platform == c.PLATFORM_FACEBOOK and event.platform_format == c.PLATFORM_FORMAT_REEL
    ):
        raise InvalidArgument("aspect_ratio 1:1 is only allowed for facebook reels")
    return VideoOptions(duration, aspect, event.with_audio if event.HasField("with_audio") else False)


# Where each step puts the overall progress bar, and what it says.
STEP_PROGRESS: dict[int, tuple[int, str]] = {
    c.JOB_STEP_RESERVING: (5, "Reserving credits"),
    c.JOB_STEP_STILL_FRAME: (15, "Designing the still frame"),
    c.JOB_STEP_SUBMITTING: (30, "Submitting to the video provider"),
    c.JOB_STEP_POLLING: (40, "Animating"),
    c.JOB_STEP_STORING: (90, "Storing the video"),
    c.JOB_STEP_DONE: (100, "Done"),
}
POLLING_SPAN = (40, 88)

TERMINAL_JOB_STATUSES = frozenset({c.JOB_STATUS_SUCCEEDED, c.JOB_STATUS_FAILED, c.JOB_STATUS_CANCELLED})


def step_label(step: int) -> str:
    return STEP_PROGRESS.get(step, (0, "Queued"))[1]


def waiting_label(ahead: int) -> str:
    """What a job waiting for admission says."""
    return f"Waiting for a free slot: {ahead} ahead"


def progress_for(step: int, step_percent: int | None = None) -> int:
    """Overall percent for a step (and, while polling, the provider's own percent)."""
    if step == c.JOB_STEP_POLLING and step_percent is not None:
        low, high = POLLING_SPAN
        return low + (high - low) * max(0, min(100, step_percent)) // 100
    return STEP_PROGRESS.get(step, (0, ""))[0]


def advances(current_step: int, current_progress: int, new_step: int, new_progress: int) -> bool:
    """Progress only moves forward: late or duplicated progress events are ignored."""
    return (new_step, new_progress) > (current_step, current_progress)
