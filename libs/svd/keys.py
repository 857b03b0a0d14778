"""Object-storage key conventions, the one place that decides where a tenant's objects live."""

from __future__ import annotations

import re

# One path segment: letters, digits, `.`, `_`, `-`, at most 128 characters, and never starting with `.` (so neither
# `.` nor `..` nor a hidden name: a CDN or S3 front end that normalises dot segments could escape the prefix).
_SAFE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
ID_RULE = "1-128 characters of A-Z a-z 0-9 . _ -, not starting with '.'"


def is_safe_segment(value: str) -> bool:
    """Whether `value` can name a tenant, post, job or object in an object key (the rule every id must meet)."""
    return _SAFE.fullmatch(value) is not None


def _segment(value: str, what: str) -> str:
    if not is_safe_segment(value):
        raise ValueError(f"{what} {value!r} cannot be used in an object key ({ID_RULE})")
    return value


def post_prefix(tenant_id: str, social_post_id: str) -> str:
    """Prefix under which every object of one post lives."""
    return f"tenants/{_segment(tenant_id, 'tenant id')}/social-videos/{_segment(social_post_id, 'post id')}/"


def video_key(tenant_id: str, social_post_id: str, nanoid: str) -> str:
    """`tenants/{tenantId}/social-videos/{socialPostId}/{nanoid}.mp4`."""
    return f"{post_prefix(tenant_id, social_post_id)}{_segment(nanoid, 'object id')}.mp4"


def still_key(tenant_id: str, social_post_id: str, job_id: str, run: int) -> str:
    """The still frame of one run of a job, beside the post's videos."""
    return f"{post_prefix(tenant_id, social_post_id)}stills/{_segment(job_id, 'job id')}-{run}.png"


def still_source_key(tenant_id: str, social_post_id: str, job_id: str, run: int) -> str:
    """The clean brand image of one run (no text, no logo): what the video provider animates."""
    return f"{post_prefix(tenant_id, social_post_id)}stills/{_segment(job_id, 'job id')}-{run}-source.png"


def still_overlay_key(tenant_id: str, social_post_id: str, job_id: str, run: int) -> str:
    """The brand layer of one run (text panel and logo on transparency), blended onto the video after animation."""
    return f"{post_prefix(tenant_id, social_post_id)}stills/{_segment(job_id, 'job id')}-{run}-overlay.png"


def poster_key(video_object_key: str) -> str:
    """The poster (first frame) stored next to a video."""
    return video_object_key.removesuffix(".mp4") + "-poster.jpg"


def original_key(video_object_key: str) -> str:
    """The provider's original file, next to the deliverable conformed from it (kept only if asked for)."""
    return video_object_key.removesuffix(".mp4") + "-original.mp4"


def logo_key(tenant_id: str, digest: str) -> str:
    """A brand logo, content-addressed so an unchanged logo keeps its key."""
    return f"tenants/{_segment(tenant_id, 'tenant id')}/brand/logo-{_segment(digest, 'digest')}.png"
