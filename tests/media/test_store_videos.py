"""Media store on the real stack (NATS, PostgreSQL, SeaweedFS S3): large videos, bad sources, unlinking.

Each test publishes `video.ready` as the gateway would, with an output URL on a real local HTTP server, and checks
what the media store published, recorded (gRPC `Media`) and left in the bucket.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import av

from social_video.v1 import common_pb2 as c
from social_video.v1 import media_pb2
from svd.storage import PUBLIC_CACHE_CONTROL
from tests.media.conftest import LARGE_BYTES
from tests.media.harness import MOTION_PROMPT, MediaHarness
from tests.media.servers import SourceServer

KEY = re.compile(r"^tenants/(?P<tenant>[^/]+)/social-videos/(?P<post>[^/]+)/(?P<nanoid>[A-Za-z0-9_-]{21})\.mp4$")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(8 * 1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


async def test_a_200_mib_video_is_stored_once_with_its_poster(
    harness: MediaHarness, source: SourceServer, large_video: Path, tmp_path: Path
) -> None:
    ref = harness.new_ref()
    await harness.publish_ready(ref, source.add("large.mp4", large_video))
    outcome = await harness.outcome(ref.job_id, timeout_s=300)
    assert outcome.failed is None, outcome.failed
    stored = outcome.stored
    assert stored is not None
    match = KEY.match(stored.object_key)
    assert match and match["tenant"] == ref.tenant_id and match["post"] == ref.social_post_id
    assert stored.size_bytes == LARGE_BYTES

    head = harness.s3.head_object(Bucket=harness.bucket, Key=stored.object_key)
    assert head["ContentType"] == "video/mp4" and head["ContentLength"] == LARGE_BYTES
    assert head.get("CacheControl") == PUBLIC_CACHE_CONTROL
    copy = tmp_path / "stored.mp4"
    harness.s3.download_file(harness.bucket, stored.object_key, str(copy))
    assert sha256(copy) == sha256(large_video)  # the provider's bytes, complete
    assert harness.pending_uploads(ref) == []

    media = await harness.media(ref)
    videos = [m for m in media if m.media_type == "social_video"]
    posters = [m for m in media if m.media_type == "social_poster"]
    assert len(videos) == 1 and len(posters) == 1
    video, poster = videos[0], posters[0]
    assert video.media_id == stored.media_id and video.object_key == stored.object_key
    assert video.mime_type == "video/mp4" and video.generated_by == "social-video-designer"
    assert video.platform == c.PLATFORM_INSTAGRAM and video.platform_format == c.PLATFORM_FORMAT_REEL
    assert not video.HasField("slide_index")
    assert video.prompt == MOTION_PROMPT
    assert (video.width, video.height, video.codec) == (270, 480, "h264")
    assert abs(video.duration_seconds - 2.0) < 0.1
    assert video.size_bytes == LARGE_BYTES
    assert video.public_url.endswith(stored.object_key)
    assert video.created_at.seconds > 0 and video.updated_at.seconds > 0

    assert poster.parent_media_id == video.media_id and poster.mime_type == "image/jpeg"
    assert poster.object_key == stored.object_key.removesuffix(".mp4") + "-poster.jpg"
    jpeg = harness.s3.get_object(Bucket=harness.bucket, Key=poster.object_key)["Body"].read()
    assert jpeg[:3] == b"\xff\xd8\xff" and len(jpeg) == poster.size_bytes
    with av.open(copy) as container:
        assert container.streams.video[0].codec_context.name == "h264"

    # Redelivered (a new message for the same job run): the same record and object, published again.
    harness.forget(ref.job_id)
    await harness.publish_ready(ref, source.url("large.mp4"), delivery=1)
    again = await harness.outcome(ref.job_id)
    assert again.stored is not None and again.stored.media_id == stored.media_id
    assert again.stored.object_key == stored.object_key
    assert len(await harness.media(ref)) == 2
    assert len(source.requests_for("large.mp4")) == 1  # not downloaded twice
    assert set(harness.objects(ref)) == {stored.object_key, poster.object_key}


async def test_unlinking_keeps_the_record_and_the_object(
    harness: MediaHarness, source: SourceServer, small_video: Path
) -> None:
    ref = harness.new_ref()
    await harness.publish_ready(ref, source.add("unlink.mp4", small_video))
    stored = (await harness.outcome(ref.job_id)).stored
    assert stored is not None

    response = await harness.client.media.UnlinkMedia(
        media_pb2.UnlinkMediaRequest(tenant_id=ref.tenant_id, social_post_id=ref.social_post_id, reason="rejected")
    )
    assert {m.media_type for m in response.media} == {"social_video", "social_poster"}
    assert all(m.social_post_id == "" for m in response.media)

    assert await harness.media(ref) == []
    kept = await harness.media(ref, include_unlinked=True)
    assert {m.media_id for m in kept} >= {stored.media_id}
    assert all(m.social_post_id == "" and m.original_social_post_id == ref.social_post_id for m in kept)
    got = await harness.client.media.GetMedia(media_pb2.GetMediaRequest(media_id=stored.media_id))
    assert got.media.object_key == stored.object_key
    assert stored.object_key in harness.objects(ref)
    url = await harness.client.media.GetDownloadUrl(media_pb2.GetDownloadUrlRequest(media_id=stored.media_id))
    assert stored.object_key in url.url and url.expires_at.seconds > 0
