"""The media store's sweeps on the real stack: what a run given up on leaves is deleted, and objects an earlier
version stored world-readable are made private."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from svd.ids import new_id
from tests.media.harness import MediaHarness
from tests.media.replica import media_store_replica
from tests.media.s3proxy import FaultProxy, FaultRule
from tests.media.servers import SourceServer


@pytest.fixture
def proxy(stack):
    server = FaultProxy(lambda: stack.info["s3_endpoint"]).start()
    yield server
    server.stop()


async def legacy_public_record(harness: MediaHarness, small_video: Path) -> tuple[str, str]:
    """A video an earlier version stored: public-read, with its public URL recorded."""
    ref = harness.new_ref()
    key = f"tenants/{ref.tenant_id}/social-videos/{ref.social_post_id}/legacy.mp4"
    harness.s3.put_object(Bucket=harness.bucket, Key=key, Body=small_video.read_bytes(), ACL="public-read")  # noqa: ASYNC240
    media_id = new_id()
    url = harness.info["database_url"].replace("postgresql+psycopg://", "postgresql://")
    async with await psycopg.AsyncConnection.connect(url) as connection:
        await connection.execute(
            "INSERT INTO media.media (media_id, tenant_id, social_post_id, original_social_post_id, job_id, run,"
            " media_type, mime_type, platform, platform_format, generated_by, object_key, public_url, state)"
            " VALUES (%s, %s, %s, %s, %s, 1, 'social_video', 'video/mp4', 'instagram', 'reel', 'test', %s, %s,"
            " 'stored')",
            (media_id, ref.tenant_id, ref.social_post_id, ref.social_post_id, new_id(), key, f"https://cdn/{key}"),
        )
    return media_id, key


async def public_url_of(harness: MediaHarness, media_id: str) -> str:
    url = harness.info["database_url"].replace("postgresql+psycopg://", "postgresql://")
    async with await psycopg.AsyncConnection.connect(url) as connection:
        cursor = await connection.execute("SELECT public_url FROM media.media WHERE media_id = %s", (media_id,))
        row = await cursor.fetchone()
    assert row is not None
    return str(row[0])


async def test_a_run_given_up_on_leaves_nothing_behind_and_legacy_public_objects_are_privatised(
    stack, harness: MediaHarness, source: SourceServer, proxy: FaultProxy, small_video: Path, tmp_path: Path
) -> None:
    legacy_id, legacy_key = await legacy_public_record(harness, small_video)
    ref = harness.new_ref()
    # The job's deadline passes while the poster cannot be stored: the message is dead-lettered with the video
    # already in the bucket. The sweep then treats the run as abandoned.
    ref.deadline.FromDatetime(datetime.now(UTC) + timedelta(seconds=15))
    proxy.arm(FaultRule("PUT", "", times=-1, path_suffix="-poster.jpg"))
    overrides = {
        "DO_SPACES_ENDPOINT": proxy.endpoint,
        "STORE_CALL_ATTEMPTS": "1",
        "STORE_PART_ATTEMPTS": "1",
        "BUS_BACKOFF_BASE_S": "1",
        "BUS_BACKOFF_CAP_S": "2",
        "STALE_UPLOAD_S": "20",
        "MEDIA_SWEEP_INTERVAL_S": "2",
    }
    with media_store_replica(stack, tmp_path, **overrides):
        await harness.publish_ready(ref, source.add("abandoned.mp4", small_video))
        deadline = time.monotonic() + 240
        seen_video = False
        record = await harness.run_record(ref)
        while record is None or record["state"] == "uploading":
            seen_video = seen_video or bool(harness.objects(ref))
            assert time.monotonic() < deadline, f"the run was never swept: {record}"
            await asyncio.sleep(1)
            record = await harness.run_record(ref)
        assert seen_video  # the video had been stored before the run was given up on
        assert record["state"] == "failed" and "abandoned" in record["failure_reason"]
        assert harness.objects(ref) == {} and harness.pending_uploads(ref) == []
        assert harness.outcome_now(ref.job_id) is None  # the job itself was failed from its dead letter

        while await public_url_of(harness, legacy_id):
            assert time.monotonic() < deadline, "the legacy record was never privatised"
            await asyncio.sleep(1)
    assert any(method == "PUT" and path.endswith(legacy_key) for method, path, _ in proxy.seen)  # its ACL, set private
