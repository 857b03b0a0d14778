"""Media store against misbehaving sources on the real stack: truncated bodies, corrupt or wrong files, redirects
to the metadata service, expired provider URLs. A bad file fails the job with phase `storing` and leaves nothing
behind: no Media record, no object, no unfinished multipart upload."""

from __future__ import annotations

from pathlib import Path

import pytest

from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from tests.media.harness import MediaHarness
from tests.media.servers import SourceServer

MIB = 1024 * 1024


async def assert_failed_cleanly(harness: MediaHarness, ref: pipeline_pb2.JobRef, *reason_parts: str) -> str:
    outcome = await harness.outcome(ref.job_id)
    assert outcome.stored is None and outcome.failed is not None
    failed = outcome.failed
    assert failed.phase == c.JOB_STEP_STORING and failed.provider == c.VIDEO_PROVIDER_RUNWAY
    for part in reason_parts:
        assert part in failed.reason, failed.reason
    assert await harness.media(ref, include_unlinked=True) == []
    assert harness.objects(ref) == {}
    assert harness.pending_uploads(ref) == []
    return failed.reason


async def test_a_body_cut_off_midway_is_resumed_with_range(
    harness: MediaHarness, source: SourceServer, large_video: Path
) -> None:
    ref = harness.new_ref()
    url = source.add("cut-resume.mp4", large_video, truncate_at=70 * MIB, truncate_times=1)
    await harness.publish_ready(ref, url)
    outcome = await harness.outcome(ref.job_id, timeout_s=300)
    assert outcome.stored is not None, outcome.failed
    assert outcome.stored.size_bytes == large_video.stat().st_size  # noqa: ASYNC240
    seen = source.requests_for("cut-resume.mp4")
    assert [s.range for s in seen] == [None, f"bytes={70 * MIB}-"]  # one resume, no restart
    assert harness.pending_uploads(ref) == []


async def test_a_body_cut_off_by_a_server_without_ranges_restarts_the_transfer(
    harness: MediaHarness, source: SourceServer, small_video: Path
) -> None:
    ref = harness.new_ref()
    url = source.add("cut-restart.mp4", small_video, ranges=False, truncate_at=2000, truncate_times=2)
    await harness.publish_ready(ref, url)
    outcome = await harness.outcome(ref.job_id)
    assert outcome.stored is not None, outcome.failed
    assert [s.range for s in source.requests_for("cut-restart.mp4")] == [None, None, None]
    assert len(await harness.media(ref)) == 2  # the video and its poster
    assert harness.pending_uploads(ref) == []


async def test_a_body_cut_off_every_time_fails_after_three_attempts(
    harness: MediaHarness, source: SourceServer, small_video: Path
) -> None:
    ref = harness.new_ref()
    url = source.add("cut-always.mp4", small_video, truncate_at=3000, truncate_times=100)
    await harness.publish_ready(ref, url)
    await assert_failed_cleanly(harness, ref, "download broke", "gave up after 3 attempts")
    assert len(source.requests_for("cut-always.mp4")) == 3


async def test_server_errors_are_retried(harness: MediaHarness, source: SourceServer, small_video: Path) -> None:
    ref = harness.new_ref()
    await harness.publish_ready(ref, source.add("flaky.mp4", small_video, fail_status=503, fail_times=2))
    outcome = await harness.outcome(ref.job_id)
    assert outcome.stored is not None, outcome.failed
    assert [s.status for s in source.requests_for("flaky.mp4")] == [503, 503, 200]


async def test_a_corrupt_mp4_fails_the_job_and_is_not_kept(
    harness: MediaHarness, source: SourceServer, corrupt_video: Path
) -> None:
    ref = harness.new_ref()
    await harness.publish_ready(ref, source.add("corrupt.mp4", corrupt_video))
    await assert_failed_cleanly(harness, ref, "not a playable MP4")


async def test_a_file_that_is_not_an_mp4_is_never_uploaded(
    harness: MediaHarness, source: SourceServer, tmp_path: Path
) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(b"<!doctype html><html><body>Access denied</body></html>" * 50)
    ref = harness.new_ref()
    await harness.publish_ready(ref, source.add("page.mp4", page, content_type="text/html"))
    await assert_failed_cleanly(harness, ref, "not an MP4 file")


async def test_a_redirect_to_the_metadata_service_is_refused(
    harness: MediaHarness, source: SourceServer, small_video: Path
) -> None:
    ref = harness.new_ref()
    url = source.add("hop.mp4", small_video, redirect="http://169.254.169.254/latest/meta-data/iam/")
    await harness.publish_ready(ref, url)
    await assert_failed_cleanly(harness, ref, "169.254.169.254", "link-local")
    assert len(source.requests_for("hop.mp4")) == 1


@pytest.mark.parametrize("status", [403, 410])
async def test_an_expired_provider_url_is_reported_as_such(
    harness: MediaHarness, source: SourceServer, small_video: Path, status: int
) -> None:
    ref = harness.new_ref()
    name = f"expired-{status}.mp4"
    url = source.add(name, small_video, status=status, body=b'{"error": "Request has expired"}')
    await harness.publish_ready(ref, url)
    reason = await assert_failed_cleanly(harness, ref, "expired", f"HTTP {status}", "Request has expired")
    assert "fresh URL" in reason
    assert len(source.requests_for(name)) == 1  # an expired URL is not retried


async def test_a_host_not_allowed_for_the_provider_is_refused(harness: MediaHarness) -> None:
    ref = harness.new_ref()
    await harness.publish_ready(ref, "https://downloads.example.net/video.mp4")
    await assert_failed_cleanly(harness, ref, "downloads.example.net", "not allowed")


@pytest.mark.parametrize(
    ("field", "value"), [("social_post_id", "post 1"), ("social_post_id", "a/b"), ("tenant_id", "..")]
)
async def test_ids_that_cannot_name_an_object_fail_the_job_at_once(
    harness: MediaHarness, source: SourceServer, small_video: Path, field: str, value: str
) -> None:
    ref = harness.new_ref()
    setattr(ref, field, value)
    await harness.publish_ready(ref, source.add("bad-ids.mp4", small_video))
    outcome = await harness.outcome(ref.job_id, timeout_s=60)  # not retried until the deadline: failed on the spot
    assert outcome.stored is None and outcome.failed is not None
    assert outcome.failed.phase == c.JOB_STEP_STORING
    assert "cannot be used in an object key" in outcome.failed.reason and repr(value) in outcome.failed.reason
    assert source.requests_for("bad-ids.mp4") == []  # nothing downloaded
    assert await harness.run_record(ref) is None  # and no record
