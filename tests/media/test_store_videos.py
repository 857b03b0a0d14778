"""Media store on the real stack (NATS, PostgreSQL, SeaweedFS S3): large videos, bad sources, unlinking.

Each test publishes `video.ready` as the gateway would, with an output URL on a real local HTTP server, and checks
what the media store published, recorded (gRPC `Media`) and left in the bucket.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import av
import grpc
import pytest

from social_video.v1 import common_pb2 as c
from social_video.v1 import media_pb2, pipeline_pb2
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
    assert head.get("CacheControl") != PUBLIC_CACHE_CONTROL  # private: no year-long public caching
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
    assert (video.width, video.height, video.codec, video.fps) == (1080, 1920, "h264", 24.0)
    assert (video.source_width, video.source_height, video.source_fps) == (1080, 1920, 24.0)
    assert abs(video.duration_seconds - 5.0) < 0.05 and not video.has_audio
    assert video.size_bytes == LARGE_BYTES
    assert urlsplit(video.public_url).path.endswith(stored.object_key)
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


def anonymous_get(url: str) -> tuple[int, bytes]:
    """GET `url` without credentials: (status, body)."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


async def test_media_is_readable_only_through_presigned_urls(
    harness: MediaHarness, source: SourceServer, small_video: Path
) -> None:
    ref = harness.new_ref()
    await harness.publish_ready(ref, source.add("private.mp4", small_video))
    stored = (await harness.outcome(ref.job_id)).stored
    assert stored is not None
    media = await harness.media(ref)
    poster = next(m for m in media if m.media_type == "social_poster")
    bucket_url = f"{harness.info['s3_endpoint']}/{harness.bucket}"
    for key in (stored.object_key, poster.object_key):
        assert (await asyncio.to_thread(anonymous_get, f"{bucket_url}/{key}"))[0] == 403

    # The URL the client is notified with, and the records' URLs, are presigned and work without credentials.
    assert "Signature" in stored.public_url
    status, body = await asyncio.to_thread(anonymous_get, stored.public_url)
    assert status == 200 and body == small_video.read_bytes()  # noqa: ASYNC240
    for record in media:
        status, body = await asyncio.to_thread(anonymous_get, record.public_url)
        assert status == 200 and len(body) == record.size_bytes
    # Tampering with the signed URL (another object) is refused.
    forged = stored.public_url.replace(stored.object_key, poster.object_key)
    assert (await asyncio.to_thread(anonymous_get, forged))[0] == 403

    # Once unlinked, listings carry no URL; the tenant can still ask for a short-lived one explicitly.
    await harness.client.media.UnlinkMedia(
        media_pb2.UnlinkMediaRequest(tenant_id=ref.tenant_id, social_post_id=ref.social_post_id)
    )
    unlinked = await harness.media(ref, include_unlinked=True)
    assert unlinked and all(m.public_url == "" for m in unlinked)
    url = await harness.client.media.GetDownloadUrl(media_pb2.GetDownloadUrlRequest(media_id=stored.media_id))
    assert (await asyncio.to_thread(anonymous_get, url.url))[0] == 200


async def store_runs(
    harness: MediaHarness, source: SourceServer, video: Path, runs: int
) -> tuple[pipeline_pb2.JobRef, list[str]]:
    """`runs` runs of one job on one post, stored one after the other: the job and the video media ids in run order."""
    ref = harness.new_ref()
    url = source.add(f"runs-{ref.job_id}.mp4", video)
    media_ids = []
    for run in range(1, runs + 1):
        ref.run = run
        await harness.publish_ready(ref, url)
        stored = (await harness.outcome(ref.job_id)).stored
        assert stored is not None
        media_ids.append(stored.media_id)
        harness.forget(ref.job_id)
    return ref, media_ids


async def test_unlinking_one_media_keeps_the_post_s_other_media(
    harness: MediaHarness, source: SourceServer, small_video: Path
) -> None:
    ref, (old, new) = await store_runs(harness, source, small_video, 2)
    response = await harness.client.media.UnlinkMedia(
        media_pb2.UnlinkMediaRequest(
            tenant_id=ref.tenant_id, social_post_id=ref.social_post_id, media_id=old, reason="stored after a cancel"
        )
    )
    assert {m.media_id for m in response.media if m.media_type == "social_video"} == {old}
    assert {m.parent_media_id for m in response.media if m.media_type == "social_poster"} == {old}
    linked = await harness.media(ref)
    assert {m.media_id for m in linked if m.media_type == "social_video"} == {new}
    assert len(linked) == 2  # the newer run's video and its poster


async def list_page(harness: MediaHarness, tenant_id: str, limit: int, token: str = "") -> media_pb2.ListMediaResponse:
    request = media_pb2.ListMediaRequest(tenant_id=tenant_id, limit=limit, page_token=token)
    return await harness.client.media.ListMedia(request)


async def test_list_media_pages_in_a_stable_order(
    harness: MediaHarness, source: SourceServer, small_video: Path
) -> None:
    ref, _ = await store_runs(harness, source, small_video, 3)  # 3 videos and 3 posters
    everything = await list_page(harness, ref.tenant_id, 0)  # 0: the default page size (100)
    assert len(everything.media) == 6 and everything.next_page_token == ""
    keys = [(m.created_at.ToDatetime(), m.media_id) for m in everything.media]
    assert keys == sorted(keys)

    seen, token, pages = [], "", 0
    while True:
        page = await list_page(harness, ref.tenant_id, 4, token)
        seen += [m.media_id for m in page.media]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages == 2 and seen == [m.media_id for m in everything.media]

    # Out-of-range sizes are clamped, never a database error.
    for limit in (-1, -1000):
        page = await list_page(harness, ref.tenant_id, limit)
        assert len(page.media) == 1 and page.next_page_token
    assert len((await list_page(harness, ref.tenant_id, 100_000)).media) == 6

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await list_page(harness, ref.tenant_id, 2, "not-a-token")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
