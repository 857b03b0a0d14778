"""Media store under store faults and crashes on the real stack: a `503 SlowDown` storm from S3 (through a
fault-injecting proxy in front of SeaweedFS) and a media store killed with SIGKILL in the middle of an upload."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from social_video.v1 import common_pb2 as c
from tests.media.harness import MediaHarness
from tests.media.mp4s import large_mp4
from tests.media.replica import media_store_replica
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


async def test_a_storm_that_does_not_end_fails_the_job_without_leftovers(
    stack, harness: MediaHarness, source: SourceServer, proxy: FaultProxy, medium_video: Path, tmp_path: Path
) -> None:
    ref = harness.new_ref()
    proxy.arm(FaultRule("PUT", "partNumber", times=-1))
    overrides = {"DO_SPACES_ENDPOINT": proxy.endpoint, "STORE_CALL_ATTEMPTS": "2", "STORE_PART_ATTEMPTS": "2"}
    with media_store_replica(stack, tmp_path, **overrides):
        await harness.publish_ready(ref, source.add("storm-forever.mp4", medium_video))
        outcome = await harness.outcome(ref.job_id, timeout_s=240)
    assert outcome.failed is not None and outcome.stored is None
    assert outcome.failed.phase == c.JOB_STEP_STORING
    assert "object store unavailable" in outcome.failed.reason and "SlowDown" in outcome.failed.reason
    assert proxy.injected >= 4
    assert harness.pending_uploads(ref) == []  # the upload was aborted
    assert harness.objects(ref) == {}
    assert await harness.media(ref) == []


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
    assert outcome.stored.object_key == orphans[0]["Key"]  # the same claimed key
    assert harness.objects(ref)[outcome.stored.object_key] == large_video.stat().st_size  # noqa: ASYNC240
    assert harness.pending_uploads(ref) == []  # the orphaned upload was aborted
    videos = [m for m in await harness.media(ref) if m.media_type == "social_video"]
    assert len(videos) == 1 and videos[0].media_id == outcome.stored.media_id
    assert len(source.requests_for("killed.mp4")) == 2
