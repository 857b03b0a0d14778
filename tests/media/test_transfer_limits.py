"""The transfer on its own against the real S3 store and a real HTTP source: size limit and public URLs."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from media_store.guards import SourcePolicy
from media_store.transfer import TransferError, transfer
from svd.settings import SpacesSettings
from svd.storage import ObjectStore
from tests.media.harness import MediaHarness
from tests.media.servers import SourceServer

LOOPBACK = SourcePolicy(("127.0.0.1",), allow_loopback_http=True)


def spaces(info: dict, cdn: str = "") -> SpacesSettings:
    return SpacesSettings(
        do_spaces_key=info["s3_access_key"],
        do_spaces_secret=info["s3_secret_key"],
        do_spaces_bucket=info["s3_bucket"],
        do_spaces_endpoint=info["s3_endpoint"],
        do_spaces_region=info["s3_region"],
        do_spaces_cdn_url=cdn,
    )


async def test_a_video_over_the_size_limit_is_refused_before_any_upload(
    stack, harness: MediaHarness, source: SourceServer, small_video: Path
) -> None:
    ref = harness.new_ref()
    key = f"tenants/{ref.tenant_id}/social-videos/{ref.social_post_id}/too-big.mp4"
    url = source.add("too-big.mp4", small_video)
    async with ObjectStore.open(spaces(stack.info)) as store, httpx.AsyncClient() as http:
        with pytest.raises(TransferError, match="over the 1000 byte limit") as raised:
            await transfer(
                http, url, LOOPBACK, store, key, attempts=3, max_bytes=1000, part_size=5 << 20, parts_in_flight=2
            )
    assert not raised.value.retryable
    assert len(source.requests_for("too-big.mp4")) == 1
    assert harness.objects(ref) == {} and harness.pending_uploads(ref) == []


async def test_public_urls_use_the_cdn_when_configured(stack) -> None:
    async with ObjectStore.open(spaces(stack.info, cdn="https://cdn.example.com/")) as store:
        assert (
            store.public_url("tenants/t/social-videos/p/x.mp4")
            == "https://cdn.example.com/tenants/t/social-videos/p/x.mp4"
        )
    async with ObjectStore.open(spaces(stack.info)) as store:
        bucket_url = f"{stack.info['s3_endpoint']}/{stack.info['s3_bucket']}/k.mp4"
        assert store.public_url("k.mp4") == bucket_url
