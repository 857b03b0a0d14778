"""Still-frame use case: paint the background, lay out headline and logo, store the images, hand them on.

``video.design.requested`` -> image prompt -> image provider (OpenAI, Azure OpenAI or local) -> the image fitted to
the deliverable's frame -> one layout rendered as up to three PNGs under the post's prefix -> ``video.still.ready``.

``TEXT_OVERLAY=after_animation`` (the default): the clean source image (``source_key``) goes to the video provider,
the brand layer (``overlay_key``: text panel, headline, CTA and logo on transparency, at the deliverable size) is
blended onto every frame by media-store, so brand text never warps; the composited still (``still_key``) is for review
and the poster fallback. ``baked``: only the composited still is stored and animated, text and all.

Outcomes.  Anything that can never succeed for this job (ids that cannot name an object, a content-policy
refusal, a request the provider rejects, a missing logo, a headline with nothing drawable) becomes ``video.failed``
with phase ``still_frame`` and a clear reason, and the message is acked.  What may pass (the image provider still
failing after its client's retries: 5xx, 429, timeouts; the object store down) is a ``Retry``: the consumer tries
again until the job's deadline.

A paid image is made once per job run.  A redelivered event whose still is already stored is not painted again:
the ready event is re-published with the same message id and deduplicated by the bus.  While the still is being
made, the handler heartbeats the consumer and holds the run's claim (:mod:`still_frame.claims`), so a second
delivery (a missed heartbeat, a second replica) waits for the first instead of paying again; a still painted while
the store was down is kept in memory and stored by the retry without a second image call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from PIL import Image

from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from still_frame.claims import Claim, Lease, RunClaims, claim_key, new_owner
from still_frame.images import ImageProvider, ImageProviderError, ImageProviderUnavailable, ImageRefused, ImageRequest
from still_frame.liveness import Beat, kept_alive
from still_frame.prompt import brief_from_request, build_image_prompt
from still_frame.render import BrandStyle, encode_png, output_size, render_still
from still_frame.settings import TextOverlay
from svd import keys
from svd.bus import topology
from svd.bus.consumer import Ack, Outcome, Retry
from svd.bus.publisher import EventPublisher
from svd.enums import short_name
from svd.errors import NotFound, Unavailable
from svd.ids import message_id
from svd.storage import ObjectStore
from svd.telemetry import tracer

log = logging.getLogger(__name__)
_tracer = tracer("still-frame")
# Stills painted while the store was down, kept for the retry (a few MB each; bounded, oldest dropped first).
UNSTORED_MAX = 8
# Giving a claim back is one small put: never let it hold up a shutdown or a retry for long.
RELEASE_TIMEOUT_S = 5.0


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


@dataclass(frozen=True)
class StillKeys:
    """Where one run's images live; ``source`` and ``overlay`` are empty when the brand layer is baked in."""

    still: str
    source: str = ""
    overlay: str = ""

    @classmethod
    def of(cls, ref: pipeline_pb2.JobRef, text_overlay: TextOverlay) -> StillKeys:
        args = (ref.tenant_id, ref.social_post_id, ref.job_id, ref.run)
        still = keys.still_key(*args)
        if text_overlay == "baked":
            return cls(still)
        return cls(still, keys.still_source_key(*args), keys.still_overlay_key(*args))

    def ready(self, ref: pipeline_pb2.JobRef, spec: pipeline_pb2.VideoSpec) -> pipeline_pb2.StillReady:
        """The ready event: the provider animates ``source_key`` (the still itself when baked)."""
        return pipeline_pb2.StillReady(
            ref=ref, spec=spec, still_key=self.still, source_key=self.source or self.still, overlay_key=self.overlay
        )


def compose_pngs(
    request: pipeline_pb2.DesignRequested,
    style: BrandStyle,
    background: Image.Image,
    logo_png: bytes | None,
    where: StillKeys,
) -> dict[str, bytes]:
    """CPU-bound: fit the background to the frame, lay out text and logo once, encode the PNGs (key -> bytes, in
    store order: the still last, since a stored still means the run's images are all there)."""
    result = render_still(
        background,
        style=style,
        headline=request.spec.copy.headline,
        cta=request.spec.copy.cta or None,
        logo_png=logo_png,
        platform_format=short_name(c.PlatformFormat, request.spec.platform_format),
        aspect_ratio=request.spec.aspect_ratio or "9:16",
    )
    pngs: dict[str, bytes] = {}
    if where.source:
        pngs[where.source] = encode_png(result.source)
    if where.overlay:
        pngs[where.overlay] = encode_png(result.overlay)
    pngs[where.still] = encode_png(result.image)
    return pngs


@dataclass(frozen=True)
class Timing:
    heartbeat_s: float  # consumer heartbeat and claim renewal period
    retry_s: float  # retry delay while a dependency is down or another worker holds the run


@dataclass
class StillFrame:
    store: ObjectStore
    publisher: EventPublisher
    images: ImageProvider
    claims: RunClaims
    timing: Timing
    text_overlay: TextOverlay = "after_animation"
    _unstored: OrderedDict[str, dict[str, bytes]] = field(default_factory=OrderedDict)

    async def design_requested(self, request: pipeline_pb2.DesignRequested, in_progress: Beat | None = None) -> Outcome:
        ref = request.ref
        try:
            where = StillKeys.of(ref, self.text_overlay)
        except ValueError as exc:  # the dispatcher refuses such ids; retrying could never store this still
            reason = f"still frame cannot be stored: {exc}"
            log.warning("job %s: %s", ref.job_id, reason)
            await self._fail(ref, reason)
            return Ack()
        with _tracer.start_as_current_span("still_frame.design") as span:
            span.set_attribute("social_video.job_id", ref.job_id)
            span.set_attribute("social_video.image_provider", self.images.name)
            span.set_attribute("social_video.still_key", where.still)
            span.set_attribute("social_video.text_overlay", self.text_overlay)
            if await self._already_stored(where.still):
                log.info("still %s already stored (redelivery); not painting it again", where.still)
                where = await self._stored_layers(where)
            else:
                outcome = await self._paint_and_store(request, where, in_progress)
                if outcome is not None:
                    return outcome
        ready = where.ready(ref, request.spec)
        await self.publisher.publish(topology.STILL_READY, ready, message_id(ref.job_id, "still.ready", ref.run))
        return Ack()

    async def _stored_layers(self, where: StillKeys) -> StillKeys:
        """The keys of a run stored earlier: its source and overlay only if they are there (a run painted before
        TEXT_OVERLAY changed to after_animation has only its still, which is then animated as it is)."""
        if where.overlay and await self._already_stored(where.source) and await self._already_stored(where.overlay):
            return where
        return StillKeys(where.still)

    async def _paint_and_store(
        self, request: pipeline_pb2.DesignRequested, where: StillKeys, in_progress: Beat | None
    ) -> Outcome | None:
        """Store the run's images, painting them under the run's claim; None once they are stored, else the outcome."""
        ref = request.ref
        key = where.still
        started = time.perf_counter()
        pngs = self._unstored.pop(key, None)
        if pngs is not None:  # painted by an earlier delivery while the store was down: no second image
            await self._store(key, pngs)
            log.info("still for job %s stored on retry (painted earlier)", ref.job_id)
            return None
        claimed = await self.claims.acquire(claim_key(key), new_owner())
        if isinstance(claimed, Claim):
            return await self._held_elsewhere(ref, claimed)
        lease = claimed
        if await self._already_stored(key):  # the previous holder finished between our look and our claim
            return None
        try:
            async with kept_alive(
                self.timing.heartbeat_s, consumer=in_progress, claim=lambda: self.claims.renew(lease)
            ):
                pngs = await self._make_still(request, where)
                made = time.perf_counter()
                await self._store(key, pngs)
        except StillFailed as exc:
            log.warning("still frame failed for job %s: %s", ref.job_id, exc)
            try:
                await self.claims.fail(lease, str(exc))
            except Unavailable as store_down:  # the failure is still reported; only a late duplicate could repaint
                log.warning("could not record the failed claim %s: %s", lease.key, store_down)
            await self._fail(ref, str(exc))
            return Ack()
        except (ImageProviderUnavailable, Unavailable) as exc:
            log.warning("still frame for job %s will be retried: %s", ref.job_id, exc)
            await self._give_back(lease)
            return Retry(self.timing.retry_s, str(exc))
        except BaseException:  # cancelled at shutdown, or a bug: the next delivery need not wait for the lease
            await self._give_back(lease)
            raise
        log.info(
            "still for job %s (%s, text %s): made in %.0f ms, stored in %.0f ms (%d KiB)",
            ref.job_id,
            self.images.name,
            self.text_overlay,
            (made - started) * 1000,
            (time.perf_counter() - made) * 1000,
            sum(map(len, pngs.values())) // 1024,
        )
        return None

    async def _held_elsewhere(self, ref: pipeline_pb2.JobRef, claim: Claim) -> Outcome:
        if claim.state == "failed":  # decided by an earlier delivery: say it again (deduplicated), pay nothing
            await self._fail(ref, claim.reason)
            return Ack()
        # Come back when the holder should be done, or when its lease runs out if it died.
        delay = min(self.timing.retry_s, max(1.0, claim.expires_at - time.time()))
        log.info(
            "still of job %s run %d is being made by %s; retrying in %.0f s", ref.job_id, ref.run, claim.owner, delay
        )
        return Retry(delay, f"the still is being made by {claim.owner}")

    async def _store(self, key: str, pngs: dict[str, bytes]) -> None:
        """Put every image of the run, the still (``key``) last: its presence says the run is complete."""
        try:
            for name, png in pngs.items():
                await self.store.put_bytes(name, png, "image/png")
        except Unavailable:
            self._unstored[key] = pngs
            while len(self._unstored) > UNSTORED_MAX:
                self._unstored.popitem(last=False)
            raise

    async def _give_back(self, lease: Lease) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(self.claims.release(lease)), RELEASE_TIMEOUT_S)
        except (Unavailable, TimeoutError) as exc:  # it runs out on its own after the lease
            log.warning("could not release the claim %s: %s", lease.key, exc)

    async def _make_still(self, request: pipeline_pb2.DesignRequested, where: StillKeys) -> dict[str, bytes]:
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
            except ImageProviderUnavailable:
                raise  # may pass: retried by the caller, not a failure of the job
            except ImageProviderError as exc:
                raise StillFailed(f"image provider {exc.provider} failed: {exc.message}") from exc
        await self._progress(ref, 50, "Compositing headline and logo")
        with _tracer.start_as_current_span("still_frame.composite"):
            try:
                return await asyncio.to_thread(compose_pngs, request, style, background, logo, where)
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
        """Progress is for display: a failed publish must not cost the image already paid for."""
        event = pipeline_pb2.VideoProgress(ref=ref, step=c.JOB_STEP_STILL_FRAME, percent=percent, label=label)
        try:
            await self.publisher.publish(
                topology.PROGRESS, event, message_id(ref.job_id, f"progress.still.{percent}", ref.run)
            )
        except Exception:
            log.warning("progress of job %s not published", ref.job_id, exc_info=True)

    async def _fail(self, ref: pipeline_pb2.JobRef, reason: str) -> None:
        failed = pipeline_pb2.VideoFailed(ref=ref, phase=c.JOB_STEP_STILL_FRAME, reason=reason)
        await self.publisher.publish(topology.FAILED, failed, message_id(ref.job_id, "failed", ref.run))
