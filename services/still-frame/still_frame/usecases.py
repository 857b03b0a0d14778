"""Still-frame use case: paint the background, composite headline and logo, store the still, hand it on.

``video.design.requested`` -> image prompt -> image provider (OpenAI, Azure OpenAI or local) ->
compositing -> PNG under the post's prefix -> ``video.still.ready`` with the key.  Anything that can
never succeed for this job (a content-policy refusal, retries exhausted, a missing logo, a headline
with nothing drawable) becomes ``video.failed`` with phase ``still_frame`` and a clear reason; the
message is acked either way.  A redelivered event whose still is already stored is not painted again
(a paid provider is not called twice): the ready event is re-published with the same message id and
deduplicated by the bus.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from PIL import Image

from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from still_frame.images import ImageProvider, ImageProviderError, ImageRefused, ImageRequest
from still_frame.prompt import brief_from_request, build_image_prompt
from still_frame.render import BrandStyle, compose_still, encode_png, output_size
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


class StillFailed(Exception):
    """This job's still cannot be made; the message is the reason reported in ``video.failed``."""


def brand_style(request: pipeline_pb2.DesignRequested) -> BrandStyle:
    brand = request.brand
    try:
        return BrandStyle(
            primary=brand.primary_color,
            secondary=brand.secondary_color,
            accent=brand.accent_color,
            font_family=brand.font_family or None,
            tone=brand.tone_of_voice,
        )
    except ValueError as exc:
        raise StillFailed(f"invalid brand style: {exc}") from exc


def compose_png(
    request: pipeline_pb2.DesignRequested, style: BrandStyle, background: Image.Image, logo_png: bytes | None
) -> bytes:
    """CPU-bound: cover-crop the background to the format, composite text and logo, encode PNG."""
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
    images: ImageProvider

    async def design_requested(self, request: pipeline_pb2.DesignRequested) -> Outcome:
        ref = request.ref
        key = keys.still_key(ref.tenant_id, ref.social_post_id, ref.job_id, ref.run)
        with _tracer.start_as_current_span("still_frame.design") as span:
            span.set_attribute("social_video.job_id", ref.job_id)
            span.set_attribute("social_video.image_provider", self.images.name)
            span.set_attribute("social_video.still_key", key)
            started = time.perf_counter()
            if await self._already_stored(key):
                log.info("still %s already stored (redelivery); not painting it again", key)
            else:
                try:
                    png = await self._make_still(request)
                except StillFailed as exc:
                    log.warning("still frame failed for job %s: %s", ref.job_id, exc)
                    await self._fail(ref, str(exc))
                    return Ack()
                made = time.perf_counter()
                await self.store.put_bytes(key, png, "image/png")
                log.info(
                    "still for job %s (%s): made in %.0f ms, stored in %.0f ms (%d KiB)",
                    ref.job_id,
                    self.images.name,
                    (made - started) * 1000,
                    (time.perf_counter() - made) * 1000,
                    len(png) // 1024,
                )
        ready = pipeline_pb2.StillReady(ref=ref, spec=request.spec, still_key=key)
        await self.publisher.publish(topology.STILL_READY, ready, message_id(ref.job_id, "still.ready", ref.run))
        return Ack()

    async def _make_still(self, request: pipeline_pb2.DesignRequested) -> bytes:
        ref = request.ref
        await self._progress(ref, 0, "Designing the still frame")
        style = brand_style(request)
        try:
            width, height = output_size(request.spec.aspect_ratio or "9:16")
        except ValueError as exc:
            raise StillFailed(str(exc)) from exc
        logo = await self._logo(request.brand.logo_key)  # before any paid call: a missing logo fails for free
        prompt = build_image_prompt(brief_from_request(request))
        image_request = ImageRequest(prompt, width, height, style, seed=f"{ref.social_post_id}:{ref.run}")
        with _tracer.start_as_current_span("still_frame.image") as span:
            span.set_attribute("social_video.image_provider", self.images.name)
            try:
                background = await self.images.generate(image_request)
            except ImageRefused as exc:
                reason = f"image provider {exc.provider} refused the prompt (content policy, {exc.code}): {exc.message}"
                raise StillFailed(reason) from exc
            except ImageProviderError as exc:
                raise StillFailed(f"image provider {exc.provider} failed: {exc.message}") from exc
        await self._progress(ref, 50, "Compositing headline and logo")
        with _tracer.start_as_current_span("still_frame.composite"):
            try:
                return await asyncio.to_thread(compose_png, request, style, background, logo)
            except ValueError as exc:
                raise StillFailed(f"still frame could not be composited: {exc}") from exc

    async def _logo(self, logo_key: str) -> bytes | None:
        if not logo_key:
            return None
        try:
            return await self.store.get_bytes(logo_key)
        except NotFound as exc:
            raise StillFailed(f"brand logo {logo_key} is missing from storage") from exc

    async def _already_stored(self, key: str) -> bool:
        try:
            await self.store.head(key)
        except NotFound:
            return False
        return True

    async def _progress(self, ref: pipeline_pb2.JobRef, percent: int, label: str) -> None:
        event = pipeline_pb2.VideoProgress(ref=ref, step=c.JOB_STEP_STILL_FRAME, percent=percent, label=label)
        await self.publisher.publish(
            topology.PROGRESS, event, message_id(ref.job_id, f"progress.still.{percent}", ref.run)
        )

    async def _fail(self, ref: pipeline_pb2.JobRef, reason: str) -> None:
        failed = pipeline_pb2.VideoFailed(ref=ref, phase=c.JOB_STEP_STILL_FRAME, reason=reason)
        await self.publisher.publish(topology.FAILED, failed, message_id(ref.job_id, "failed", ref.run))
