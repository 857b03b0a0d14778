"""A client of a running stack (as `stack.json` describes it): what the demo and the end-to-end tests do.

It behaves like the system's real users: it publishes upstream events as the TypeScript router does (proto3 JSON on
`social.post.*`, with a W3C `traceparent` header), and talks to the services over gRPC with an API key.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
from google.protobuf import json_format
from opentelemetry import propagate, trace
from PIL import Image, ImageDraw

from social_video.v1 import (
    billing_pb2,
    billing_pb2_grpc,
    brands_pb2,
    brands_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
    media_pb2,
    media_pb2_grpc,
    operations_pb2_grpc,
    upstream_pb2,
)
from svd.grpc.client import channel, target

CREDIT_TYPE = "ai_video_generation"


def load_stack(home: Path) -> dict[str, Any]:
    return dict(json.loads((home / "stack.json").read_text()))


def demo_logo_png() -> bytes:
    """A small transparent PNG logo (a ring and a bar) for demo brands."""
    image = Image.new("RGBA", (320, 120), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((8, 8, 112, 112), outline=(255, 255, 255, 255), width=14)
    draw.rounded_rectangle((132, 40, 312, 80), radius=20, fill=(255, 255, 255, 235))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class StackClient:
    def __init__(self, stack: dict[str, Any], api_key: str | None = None) -> None:
        self.stack = stack
        key = api_key or stack["admin_api_key"]
        # A replicated service's entry lists every replica: the channel balances over them.
        names = ("dispatcher", "billing", "media_store")
        self._channels = [channel(target(stack["grpc"][name]), key) for name in names]
        dispatcher, billing, media = self._channels
        self.jobs = jobs_pb2_grpc.VideoJobsStub(dispatcher)
        self.brands = brands_pb2_grpc.BrandsStub(dispatcher)
        self.operations = operations_pb2_grpc.OperationsStub(dispatcher)
        self.billing = billing_pb2_grpc.BillingStub(billing)
        self.media = media_pb2_grpc.MediaStub(media)

    async def close(self) -> None:
        for ch in self._channels:
            await ch.close()

    async def put_brand(self, tenant_id: str, **colours: str) -> brands_pb2.BrandAssets:
        assets = brands_pb2.BrandAssets(
            tenant_id=tenant_id,
            primary_color=colours.get("primary", "#14213D"),
            secondary_color=colours.get("secondary", "#2E4A8C"),
            accent_color=colours.get("accent", "#FCA311"),
            tone_of_voice="confident, warm",
            logo_png=demo_logo_png(),
        )
        response = await self.brands.PutBrandAssets(brands_pb2.PutBrandAssetsRequest(assets=assets))
        return response.assets

    async def grant(self, tenant_id: str, amount: int, idempotency_key: str) -> billing_pb2.Balance:
        response = await self.billing.Grant(
            billing_pb2.GrantRequest(
                tenant_id=tenant_id,
                credit_type=CREDIT_TYPE,
                amount=amount,
                idempotency_key=idempotency_key,
                reason="demo grant",
            )
        )
        return response.balance

    async def balance(self, tenant_id: str) -> billing_pb2.Balance:
        response = await self.billing.GetBalance(
            billing_pb2.GetBalanceRequest(tenant_id=tenant_id, credit_type=CREDIT_TYPE)
        )
        return response.balance

    async def publish_upstream(self, subject: str, event: Any) -> str:
        """Publish like the upstream router: proto3 JSON with a `traceparent`; returns the trace id."""
        tracer = trace.get_tracer("upstream-router")
        with tracer.start_as_current_span(f"{subject} publish", kind=trace.SpanKind.PRODUCER) as span:
            headers: dict[str, str] = {"content-type": "application/json", "Nats-Msg-Id": event.event_id}
            propagate.inject(headers)
            payload = json_format.MessageToJson(event).encode()
            nc = await nats.connect(self.stack.get("nats_urls") or self.stack["nats_url"])
            try:
                await nc.jetstream().publish(subject, payload, headers=headers)
            finally:
                await nc.drain()
            return format(span.get_span_context().trace_id, "032x")

    async def find_job(self, tenant_id: str, social_post_id: str, timeout_s: float = 30.0) -> jobs_pb2.Job:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            response = await self.jobs.ListJobs(
                jobs_pb2.ListJobsRequest(tenant_id=tenant_id, social_post_id=social_post_id, limit=1)
            )
            if response.jobs:
                return response.jobs[0]
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no job appeared for post {social_post_id} within {timeout_s} s")
            await asyncio.sleep(0.1)

    async def watch(self, job_id: str) -> AsyncIterator[jobs_pb2.WatchJobResponse]:
        async for update in self.jobs.WatchJob(jobs_pb2.WatchJobRequest(job_id=job_id)):
            yield update

    async def get_job(self, job_id: str) -> jobs_pb2.Job:
        return (await self.jobs.GetJob(jobs_pb2.GetJobRequest(job_id=job_id))).job

    async def list_media(self, tenant_id: str, social_post_id: str) -> list[media_pb2.MediaRecord]:
        response = await self.media.ListMedia(
            media_pb2.ListMediaRequest(tenant_id=tenant_id, social_post_id=social_post_id)
        )
        return list(response.media)

    def s3(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.stack["s3_endpoint"],
            aws_access_key_id=self.stack["s3_access_key"],
            aws_secret_access_key=self.stack["s3_secret_key"],
            region_name=self.stack.get("s3_region", "us-east-1"),
            config=Config(s3={"addressing_style": "path"}),
        )

    def download(self, key: str, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        self.s3().download_file(self.stack["s3_bucket"], key, str(target))
        return target


def copy_approved(
    tenant_id: str,
    social_post_id: str,
    event_id: str,
    *,
    platform_format: str = "reel",
    content_type: str = "promotional",
    platform: str = "instagram",
    duration_seconds: int | None = None,
    aspect_ratio: str | None = None,
) -> upstream_pb2.CopyApproved:
    """A `CopyApproved` as the upstream router sends it."""
    message = upstream_pb2.CopyApproved(
        event_id=event_id,
        tenant_id=tenant_id,
        activity_id=f"activity-{social_post_id}",
        social_post_id=social_post_id,
        approved_by="dm@agency.example",
    )
    json_format.ParseDict(
        {
            "platform": f"PLATFORM_{platform.upper()}",
            "platformFormat": f"PLATFORM_FORMAT_{platform_format.upper()}",
            "contentType": f"CONTENT_TYPE_{content_type.upper()}",
            "copy": {
                "headline": "Summer drop: 30% off every roast",
                "body": "Fresh single-origin beans, roasted this week.",
                "cta": "Shop the sale",
                "hashtags": ["coffee", "summersale"],
            },
        },
        message,
    )
    if duration_seconds is not None:
        message.duration_seconds = duration_seconds
    if aspect_ratio is not None:
        message.aspect_ratio = aspect_ratio
    return message
