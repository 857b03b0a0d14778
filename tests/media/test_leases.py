"""Two workers on one job run, and a worker stopped mid-transfer, on the real stack.

JetStream hands `video.ready` to a second worker when the first misses its heartbeats (a slow or partitioned
process): the second must not abort the first one's live upload, and the run ends with exactly one outcome. A
worker stopped by SIGTERM past its shutdown grace aborts its upload, releases the run's lease and hands the message
back, so the next worker starts at once instead of waiting for the lease to expire.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.media.harness import MediaHarness
from tests.media.mp4s import large_mp4
from tests.media.replica import media_store_replica
from tests.media.servers import SourceServer

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def slow_video(videos: Path, small_video: Path) -> Path:
    return large_mp4(videos / "slow.mp4", 40 * MIB, source=small_video)


async def test_a_second_delivery_while_the_first_worker_uploads_waits_for_it(
    harness: MediaHarness, source: SourceServer, slow_video: Path
) -> None:
    ref = harness.new_ref()
    url = source.add("two-workers.mp4", slow_video, rate=4 * MIB)  # ~10 s
    await harness.publish_ready(ref, url)
    await harness.uploading(ref)
    # What a missed heartbeat causes: the same run handed to another worker while the first still uploads.
    await harness.publish_ready(ref, url, delivery=1)
    first = await harness.outcome(ref.job_id, timeout_s=240)
    assert first.failed is None and first.stored is not None, first.failed
    # The second delivery waited for the lease, then repeated the outcome (never a `failed` for this run).
    both = await harness.events(ref.job_id, 2, timeout_s=240)
    assert both.failed_events == 0 and both.stored_events >= 2
    assert len(source.requests_for("two-workers.mp4")) == 1  # neither aborted nor downloaded twice
    assert first.stored.size_bytes == 40 * MIB
    assert len([m for m in await harness.media(ref) if m.media_type == "social_video"]) == 1
    assert harness.pending_uploads(ref) == []


async def test_a_worker_stopped_mid_transfer_releases_the_run_for_the_next_one(
    stack, harness: MediaHarness, source: SourceServer, slow_video: Path, tmp_path: Path
) -> None:
    ref = harness.new_ref()
    url = source.add("sigterm.mp4", slow_video, rate=2 * MIB)  # ~20 s: longer than the grace
    with media_store_replica(stack, tmp_path, SHUTDOWN_GRACE_S="1") as replica:
        await harness.publish_ready(ref, url)
        await harness.uploading(ref)
        replica.terminate()
        record = await harness.run_record(ref)
        assert record is not None and record["state"] == "uploading"
        assert record["lease_owner"] is None, "the stopped worker kept the run's lease"
        assert harness.pending_uploads(ref) == [], "the stopped worker left its upload behind"
    # The stack's own media store picks the handed-back message up and stores the video.
    outcome = await harness.outcome(ref.job_id, timeout_s=240)
    assert outcome.failed is None and outcome.stored is not None, outcome.failed
    assert outcome.stored.size_bytes == 40 * MIB
