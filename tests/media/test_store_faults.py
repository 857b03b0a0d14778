"""Media store under store faults and crashes on the real stack: `503 SlowDown` storms and outages of S3 (through a
fault-injecting proxy in front of SeaweedFS), a poster upload that fails after the video was stored, and a media
store killed with SIGKILL in the middle of an upload. An unavailable store never fails the (paid) video: the run
waits and is tried again, reusing what was already stored."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from social_video.v1.pipeline_pb2 import JobRef
from svd.keys import original_key, poster_key
from tests.media.harness import MediaHarness
from tests.media.mp4s import large_mp4
from tests.media.replica import Replica, media_store_replica
from tests.media.s3proxy import FaultProxy, FaultRule
from tests.media.servers import SourceServer

MIB = 1024 * 1024


@pytest.fixture
def proxy(stack):
    server = FaultProxy(lambda: stack.info["s3_endpoint"]).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def medium_video(videos: Path, small_video: Path) -> Path:
    return large_mp4(videos / "medium.mp4", 30 * MIB, source=small_video)


async def test_a_slow_down_storm_is_backed_off_and_the_video_stored(
    stack, harness: MediaHarness, source: SourceServer, proxy: FaultProxy, medium_video: Path, tmp_path: Path
) -> None:
    ref = harness.new_ref()
    proxy.arm(FaultRule("PUT", "partNumber", times=12))
    with media_store_replica(stack, tmp_path, DO_SPACES_ENDPOINT=proxy.endpoint):
        await harness.publish_ready(ref, source.add("storm.mp4", medium_video))
        outcome = await harness.outcome(ref.job_id, timeout_s=240)
    assert outcome.stored is not None, outcome.failed
    assert proxy.injected == 12
    assert outcome.stored.size_bytes == 30 * MIB
    assert harness.objects(ref)[outcome.stored.object_key] == 30 * MIB
    assert harness.pending_uploads(ref) == []
    assert len([m for m in await harness.media(ref) if m.media_type == "social_video"]) == 1


async def until_the_store_gives_up(
    harness: MediaHarness, ref: JobRef, replica: Replica, timeout_s: float = 120.0
) -> None:
    """Wait until the media store logs that a store call gave up (or, without the fix, the job has an outcome)."""
    deadline = time.monotonic() + timeout_s
    while "object store unavailable" not in replica.log.read_text(errors="replace"):
        if harness.outcome_now(ref.job_id) is not None:
            return
        assert time.monotonic() < deadline, "the store never gave up"
        await asyncio.sleep(0.5)


# The store gives up after a few tries per call (botocore's, then ours), and a run waits 1-2 s before it is tried
# again.
SHORT_STORE_RETRIES = {
    "STORE_CALL_ATTEMPTS": "2",
    "STORE_PART_ATTEMPTS": "2",
    "BUS_BACKOFF_BASE_S": "1",
    "BUS_BACKOFF_CAP_S": "2",
}


async def test_an_outage_longer_than_the_store_retries_is_waited_out_and_the_video_stored_once(
    stack, harness: MediaHarness, source: SourceServer, proxy: FaultProxy, medium_video: Path, tmp_path: Path
) -> None:
    ref = harness.new_ref()
    proxy.arm(FaultRule("PUT", "partNumber", times=-1))  # every part refused, mid-upload
    with media_store_replica(stack, tmp_path, DO_SPACES_ENDPOINT=proxy.endpoint, **SHORT_STORE_RETRIES) as replica:
        await harness.publish_ready(ref, source.add("outage.mp4", medium_video))
        await until_the_store_gives_up(harness, ref, replica)
        assert harness.outcome_now(ref.job_id) is None  # the run waits: the job does not fail
        proxy.arm(FaultRule("*", "", times=-1))  # then the whole store is down for a while
        await asyncio.sleep(8)
        assert harness.outcome_now(ref.job_id) is None  # waiting, not failed
        proxy.disarm()
        outcome = await harness.outcome(ref.job_id, timeout_s=240)
    assert outcome.failed is None and outcome.stored is not None, outcome.failed
    assert outcome.stored.size_bytes == 30 * MIB
    assert set(harness.objects(ref)) == {outcome.stored.object_key, poster_key(outcome.stored.object_key)}
    assert harness.pending_uploads(ref) == []
    assert len([m for m in await harness.media(ref) if m.media_type == "social_video"]) == 1
    assert (await harness.run_record(ref) or {}).get("state") == "stored"


async def test_a_poster_upload_that_fails_is_retried_with_the_video_already_stored(
    stack, harness: MediaHarness, source: SourceServer, proxy: FaultProxy, small_video: Path, tmp_path: Path
) -> None:
    ref = harness.new_ref()
    proxy.arm(FaultRule("PUT", "", times=-1, path_suffix="-poster.jpg"))
    with media_store_replica(stack, tmp_path, DO_SPACES_ENDPOINT=proxy.endpoint, **SHORT_STORE_RETRIES) as replica:
        await harness.publish_ready(ref, source.add("poster-fails.mp4", small_video))
        await until_the_store_gives_up(harness, ref, replica)  # the video is stored, its poster is not
        assert harness.outcome_now(ref.job_id) is None
        proxy.disarm()
        outcome = await harness.outcome(ref.job_id, timeout_s=240)
    assert outcome.failed is None and outcome.stored is not None, outcome.failed
    assert len(source.requests_for("poster-fails.mp4")) == 1  # the retry reused the uploaded video
    assert set(harness.objects(ref)) == {outcome.stored.object_key, poster_key(outcome.stored.object_key)}
    assert harness.pending_uploads(ref) == []
    # Nothing was ever stored world-readable (Spaces would have served it to anyone, the orphan included).
    writes = [(method, path, headers) for method, path, headers in proxy.seen if method in ("PUT", "POST")]
    assert writes and not [w for w in writes if "x-amz-acl" in {k.lower() for k in w[2]}]


async def test_a_media_store_killed_mid_upload_finishes_the_job_after_restart(
    stack, harness: MediaHarness, source: SourceServer, large_video: Path
) -> None:
    ref = harness.new_ref()
    url = source.add("killed.mp4", large_video, rate=25 * MIB)  # ~8 s for 200 MiB
    await harness.publish_ready(ref, url)
    deadline = time.monotonic() + 60
    while not harness.pending_uploads(ref):
        assert time.monotonic() < deadline, "the upload never started"
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # a few parts in
    stack.kill("media_store")
    orphans = harness.pending_uploads(ref)
    assert len(orphans) == 1  # what a crash leaves behind

    await asyncio.to_thread(stack.up, "media_store")
    outcome = await harness.outcome(ref.job_id, timeout_s=240)  # redelivered once the ack wait (30 s) expires
    assert outcome.stored is not None, outcome.failed
    assert orphans[0]["Key"] == original_key(outcome.stored.object_key)  # the same claimed key's original
    assert harness.objects(ref)[outcome.stored.object_key] == large_video.stat().st_size  # noqa: ASYNC240
    assert harness.pending_uploads(ref) == []  # the orphaned upload was aborted
    videos = [m for m in await harness.media(ref) if m.media_type == "social_video"]
    assert len(videos) == 1 and videos[0].media_id == outcome.stored.media_id
    assert len(source.requests_for("killed.mp4")) == 2
