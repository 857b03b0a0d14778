"""One approved reel through all five services on the real embedded stack (NATS, PostgreSQL, S3, simulator)."""

from __future__ import annotations

import asyncio
import io
import time

import av
import httpx
import psycopg
from PIL import Image, ImageChops, ImageFilter

from social_video.v1 import common_pb2 as c
from social_video.v1 import jobs_pb2
from svd.ids import short_id
from svd_stack.client import StackClient, copy_approved

SERVICES = {"dispatcher", "still-frame", "video-gateway", "media-store", "billing"}


def _brand_text_never_moves(
    client: StackClient, bucket: str, still_key: str, first: Image.Image, last: Image.Image
) -> None:
    """TEXT_OVERLAY=after_animation (the default): the provider animated the clean image and the brand layer was
    blended onto every frame, so the text panel shows the overlay, unchanged from the first frame to the last, while
    the scene around it moved (baked text would move with the camera: its last frame would not match)."""
    overlay_key = still_key.removesuffix(".png") + "-overlay.png"
    overlay = Image.open(io.BytesIO(client.s3().get_object(Bucket=bucket, Key=overlay_key)["Body"].read()))
    assert overlay.size == first.size == last.size and overlay.mode == "RGBA"
    alpha = overlay.getchannel("A")
    opaque = alpha.point(lambda a: 255 if a == 255 else 0)  # inside the panel, the pill and the logo
    clear = alpha.point(lambda a: 255 if a == 0 else 0).filter(ImageFilter.MinFilter(9))  # well away from them

    def changed(a: Image.Image, b: Image.Image, mask: Image.Image, levels: int = 8) -> float:
        """Share of the pixels under `mask` that differ by more than `levels` (encoder noise stays under it)."""
        counts = ImageChops.difference(a.convert("L"), b.convert("L")).histogram(mask=mask)
        return sum(counts[levels + 1 :]) / sum(counts)

    for frame in (first, last):
        assert changed(frame, overlay, opaque) < 0.01  # the overlay's own pixels
    moved = changed(first, last, clear)
    assert moved > 0.01 and moved > 5 * changed(first, last, opaque)


async def test_approved_reel_becomes_a_stored_video_in_client_review(stack, tmp_path) -> None:
    info = stack.info
    client = StackClient(info)
    tenant, post = f"t-{short_id(8)}", f"p-{short_id(8)}"
    try:
        await client.put_brand(tenant)
        await client.grant(tenant, 100, f"grant-{tenant}")
        assert (await client.balance(tenant)).available == 100

        trace_id = await client.publish_upstream(
            "social.post.copy_approved", copy_approved(tenant, post, f"evt-{short_id()}")
        )
        job = await client.find_job(tenant, post)
        updates = [u async for u in client.watch(job.job_id)]
        assert updates[-1].terminal
        assert [u.percent for u in updates] == sorted(u.percent for u in updates)
        job = await client.get_job(job.job_id)

        assert job.status == c.JOB_STATUS_SUCCEEDED, job.error
        assert job.post_status == c.POST_STATUS_CLIENT_REVIEW
        assert job.deliverable_status == c.DELIVERABLE_STATUS_NEEDS_APPROVAL
        assert job.progress == 100 and job.step == c.JOB_STEP_DONE
        assert job.trace_id == trace_id
        assert job.provider == c.VIDEO_PROVIDER_RUNWAY and job.provider_job_id  # recorded from video.submitted
        events = await client.jobs.GetJobEvents(jobs_pb2.GetJobEventsRequest(job_id=job.job_id))
        messages = [e.message for e in events.events]
        assert "submitted to runway" in messages
        assert any(m.startswith("reserved 15 credits; runway estimated at $") for m in messages), messages
        assert (await client.balance(tenant)).available == 85
        assert (await client.balance(tenant)).held == 0

        prefix = f"tenants/{tenant}/social-videos/{post}/"
        assert job.object_key.startswith(prefix) and job.object_key.endswith(".mp4")
        nanoid = job.object_key.removeprefix(prefix).removesuffix(".mp4")
        assert len(nanoid) == 21 and "/" not in nanoid
        head = client.s3().head_object(Bucket=info["s3_bucket"], Key=job.object_key)
        assert head["ContentType"] == "video/mp4"

        media = await client.list_media(tenant, post)
        videos = [m for m in media if m.media_type == "social_video"]
        assert len(videos) == 1
        video = videos[0]
        assert video.mime_type == "video/mp4"
        assert video.platform == c.PLATFORM_INSTAGRAM
        assert video.platform_format == c.PLATFORM_FORMAT_REEL
        assert not video.HasField("slide_index")
        assert abs(video.duration_seconds - 5.0) <= 0.2
        assert video.generated_by == "social-video-designer"
        assert "No text or logo movement. No cuts. Single continuous shot." in video.prompt
        assert video.object_key == job.object_key
        assert video.media_id == job.media_id
        assert video.size_bytes == head["ContentLength"]

        with psycopg.connect(info["database_url"].replace("+psycopg", "")) as conn:
            row = conn.execute(
                "select status, deliverable_status, design_job_id, design_provider from dispatcher.posts"
                " where tenant_id = %s and social_post_id = %s",
                (tenant, post),
            ).fetchone()
        assert row == ("client_review", "needs_approval", None, None)

        path = client.download(job.object_key, tmp_path / "video.mp4")
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264"
            width, height = stream.codec_context.width, stream.codec_context.height
            assert width * 16 == height * 9 and width >= 720, f"not a vertical 9:16 video: {width}x{height}"
            decoded = [frame.to_image() for frame in container.decode(stream)]
            assert abs(container.duration / 1_000_000 - 5.0) <= 0.2
        assert len(decoded) >= 100
        _brand_text_never_moves(client, info["s3_bucket"], job.still_key, decoded[0], decoded[-1])

        deadline = time.monotonic() + 60  # each service exports its spans in batches; a busy machine delays them
        while time.monotonic() < deadline:
            services = stack.sink.services_by_trace().get(trace_id, set())
            if SERVICES <= services:
                break
            await asyncio.sleep(0.5)
        assert SERVICES <= stack.sink.services_by_trace().get(trace_id, set())
        # The provider calls are traced through the gateway's HTTP transport: the submit and the status checks.
        assert {"POST", "GET", "video_gateway.poll"} <= stack.sink.span_names(trace_id, "video-gateway")
        # The stack exports with OTLP's default protocol, HTTP/protobuf: the spans above came that way.
        assert stack.sink.protocols == {"http/protobuf"}
        await _assert_metrics_exported(stack)
    finally:
        await client.close()


# What one successful job makes each service record (svd.telemetry.metrics), over OTLP and on its scrape endpoint.
EXPECTED_METRICS = {
    "dispatcher": {"svd.jobs.started", "svd.jobs.finished", "svd.job.duration", "svd.job.step.duration"},
    "billing": {"svd.credits"},
    "still-frame": {"svd.provider.call.duration", "svd.job.step.duration", "svd.bus.handle.duration"},
    "video-gateway": {"svd.provider.call.duration", "svd.job.step.duration"},
    "media-store": {"svd.transfer.bytes", "svd.job.step.duration", "svd.conform.duration"},
}
SCRAPED = {
    "dispatcher": ('svd_jobs_finished_total{failed_phase="",', 'status="succeeded"'),
    "billing": ("svd_credits_total{", 'movement="consumed"'),
    "still-frame": ("svd_job_step_duration_seconds_count{", 'step="still_frame"'),
    "video-gateway": ("svd_provider_call_duration_seconds_count{", 'operation="submit"'),
    "media-store": ("svd_transfer_bytes_total{", 'direction="upload"'),
}


async def _assert_metrics_exported(stack) -> None:
    deadline = time.monotonic() + 20
    missing = dict(EXPECTED_METRICS)
    while missing and time.monotonic() < deadline:
        missing = {
            service: names - stack.sink.metric_names(service, "http/protobuf")
            for service, names in EXPECTED_METRICS.items()
            if not names <= stack.sink.metric_names(service, "http/protobuf")
        }
        await asyncio.sleep(0.5)
    assert not missing, f"metrics not exported over OTLP/HTTP: {missing}"
    endpoints = stack.info["metrics"]
    assert set(endpoints) == {"dispatcher", "still_frame", "video_gateway", "media_store", "billing"}
    for service, (family, label) in SCRAPED.items():
        async with httpx.AsyncClient(timeout=5) as http:
            page = (await http.get(endpoints[service.replace("-", "_")])).text
        lines = [line for line in page.splitlines() if line.startswith(family) and label in line]
        assert lines and all(float(line.rsplit(" ", 1)[1]) > 0 for line in lines), f"{service}: {family} {label}"
