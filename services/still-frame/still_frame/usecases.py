"""Still-frame use case: render the brand still for a job, store it under the post's prefix, hand it on."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from still_frame.render import BrandStyle, compose_still, encode_png, output_size, render_background
from svd import keys
from svd.bus import topology
from svd.bus.consumer import Ack, Outcome
from svd.bus.publisher import EventPublisher
from svd.enums import short_name
from svd.errors import NotFound
from svd.ids import message_id
from svd.storage import ObjectStore
from svd.telemetry import tracer

log = logging.getLogger(__name__)
_tracer = tracer("still-frame")


def render_png(request: pipeline_pb2.DesignRequested, logo_png: bytes | None) -> bytes:
    """CPU-bound: the local brand renderer plus compositing, as PNG bytes."""
    brand = request.brand
    style = BrandStyle(
        primary=brand.primary_color,
        secondary=brand.secondary_color,
        accent=brand.accent_color,
        font_family=brand.font_family or None,
        tone=brand.tone_of_voice,
    )
    width, height = output_size(request.spec.aspect_ratio or "9:16")
    background = render_background(style, width, height, seed=f"{request.ref.social_post_id}:{request.ref.run}")
    still = compose_still(
        background,
        style=style,
        headline=request.spec.copy.headline,
        cta=request.spec.copy.cta or None,
        logo_png=logo_png,
        platform_format=short_name(c.PlatformFormat, request.spec.platform_format),
        aspect_ratio=request.spec.aspect_ratio or "9:16",
    )
    return encode_png(still)


@dataclass
class StillFrame:
    store: ObjectStore
    publisher: EventPublisher

    async def design_requested(self, request: pipeline_pb2.DesignRequested) -> Outcome:
        ref = request.ref
        with _tracer.start_as_current_span("still_frame.render") as span:
            span.set_attribute("social_video.job_id", ref.job_id)
            await self._progress(ref, 0, "Designing the still frame")
            logo = None
            if request.brand.logo_key:
                try:
                    logo = await self.store.get_bytes(request.brand.logo_key)
                except NotFound:
                    await self._fail(ref, f"brand logo {request.brand.logo_key} is missing from storage")
                    return Ack()
            try:
                png = await asyncio.to_thread(render_png, request, logo)
            except ValueError as exc:
                await self._fail(ref, f"still frame could not be rendered: {exc}")
                return Ack()
            key = keys.still_key(ref.tenant_id, ref.social_post_id, ref.job_id, ref.run)
            await self.store.put_bytes(key, png, "image/png")
            span.set_attribute("social_video.still_key", key)
        ready = pipeline_pb2.StillReady(ref=ref, spec=request.spec, still_key=key)
        await self.publisher.publish(topology.STILL_READY, ready, message_id(ref.job_id, "still.ready", ref.run))
        return Ack()

    async def _progress(self, ref: pipeline_pb2.JobRef, percent: int, label: str) -> None:
        event = pipeline_pb2.VideoProgress(ref=ref, step=c.JOB_STEP_STILL_FRAME, percent=percent, label=label)
        await self.publisher.publish(
            topology.PROGRESS, event, message_id(ref.job_id, f"progress.still.{percent}", ref.run)
        )

    async def _fail(self, ref: pipeline_pb2.JobRef, reason: str) -> None:
        failed = pipeline_pb2.VideoFailed(ref=ref, phase=c.JOB_STEP_STILL_FRAME, reason=reason)
        await self.publisher.publish(topology.FAILED, failed, message_id(ref.job_id, "failed", ref.run))
