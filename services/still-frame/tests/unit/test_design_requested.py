"""The design-request use case: one paid image per job run, heartbeats while it paints, and what fails vs retries.

Pure unit tests: the store, publisher and image provider are in-memory stand-ins (the store keeps S3's conditional
write semantics); `tests/stack/test_still_frame_liveness.py` runs the same rules on the real stack.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from google.protobuf.message import Message
from PIL import Image
from pydantic import ValidationError

from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from still_frame import usecases
from still_frame.claims import Claim, RunClaims, claim_key
from still_frame.images import ImageProviderUnavailable, ImageRefused, ImageRequest
from still_frame.settings import StillFrameSettings
from still_frame.usecases import StillFrame, Timing
from svd import keys
from svd.bus import topology
from svd.bus.consumer import Ack, Retry
from svd.errors import FailedPrecondition, NotFound, Unavailable
from svd.ids import message_id
from svd.storage import StoredObject


@dataclass
class FakeStore:
    objects: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    down: bool = False  # every call fails as if the store were unreachable
    puts_down: bool = False  # only plain puts fail (the still cannot be stored)
    answer_lost: bool = False  # the next conditional put lands, but its answer is lost and the retry is refused
    writes: int = 0

    def _check(self) -> None:
        if self.down:
            raise Unavailable("object store unreachable")

    async def head(self, key: str) -> StoredObject:
        self._check()
        if key not in self.objects:
            raise NotFound(key)
        data, etag = self.objects[key]
        return StoredObject(key, len(data), "", etag)

    async def get_bytes(self, key: str) -> bytes:
        return (await self.get_versioned(key))[0]

    async def get_versioned(self, key: str) -> tuple[bytes, str]:
        self._check()
        if key not in self.objects:
            raise NotFound(key)
        return self.objects[key]

    async def put_bytes(self, key: str, data: bytes, content_type: str, *, public: bool = False) -> StoredObject:
        self._check()
        if self.puts_down:
            raise Unavailable("object store refused the put")
        etag = self._write(key, data)
        return StoredObject(key, len(data), content_type, etag)

    async def put_conditional(self, key: str, data: bytes, content_type: str, *, if_match: str | None = None) -> str:
        self._check()
        current = self.objects.get(key)
        if (if_match is None and current is not None) or (
            if_match is not None and (current or (b"", ""))[1] != if_match
        ):
            raise FailedPrecondition(key)
        etag = self._write(key, data)
        if self.answer_lost:
            self.answer_lost = False
            raise FailedPrecondition(key)
        return etag

    def _write(self, key: str, data: bytes) -> str:
        self.writes += 1
        etag = hashlib.md5(data + str(self.writes).encode()).hexdigest()
        self.objects[key] = (data, etag)
        return etag


@dataclass
class FakePublisher:
    sent: list[tuple[str, Message, str]] = field(default_factory=list)

    async def publish(self, subject: str, message: Message, msg_id: str) -> None:
        self.sent.append((subject, message, msg_id))

    def on(self, subject: str) -> list[tuple[Message, str]]:
        return [(message, msg_id) for sent_subject, message, msg_id in self.sent if sent_subject == subject]


@dataclass
class GatedImages:
    """An image provider that paints only when the test opens the gate, or fails as told."""

    name: str = "fake"
    calls: int = 0
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    started: asyncio.Event = field(default_factory=asyncio.Event)  # set by the first call
    errors: list[Exception] = field(default_factory=list)  # raised by the next calls, in order

    def __post_init__(self) -> None:
        self.gate.set()

    async def generate(self, request: ImageRequest) -> Image.Image:
        self.calls += 1
        self.started.set()
        if self.errors:
            raise self.errors.pop(0)
        await self.gate.wait()
        return Image.new("RGB", (64, 96), "#1E3A8A")

    async def aclose(self) -> None:
        return None


LEASE_S = 30.0


def _request(post: str = "post-1", job: str = "job-1", run: int = 0) -> pipeline_pb2.DesignRequested:
    return pipeline_pb2.DesignRequested(
        ref=pipeline_pb2.JobRef(job_id=job, tenant_id="tenant-1", social_post_id=post, run=run),
        spec=pipeline_pb2.VideoSpec(
            platform=c.PLATFORM_INSTAGRAM,
            platform_format=c.PLATFORM_FORMAT_REEL,
            copy=c.PostCopy(headline="Fresh beans, every morning"),
            aspect_ratio="9:16",
        ),
        brand=pipeline_pb2.BrandStyle(primary_color="#1E3A8A", secondary_color="#9333EA", accent_color="#F59E0B"),
    )


STILL = keys.still_key("tenant-1", "post-1", "job-1", 0)


@dataclass
class World:
    store: FakeStore
    publisher: FakePublisher
    images: GatedImages
    still_frame: StillFrame
    claims: RunClaims

    def claim(self) -> Claim:
        return Claim.decode(self.store.objects[claim_key(STILL)][0])

    def failures(self) -> list[tuple[pipeline_pb2.VideoFailed, str]]:
        return [(cast(pipeline_pb2.VideoFailed, m), i) for m, i in self.publisher.on(topology.FAILED)]


def _fake_pngs(*args: Any) -> dict[str, bytes]:
    where: usecases.StillKeys = args[-1]
    pngs = {key: b"\x89PNG " + name for key, name in ((where.source, b"source"), (where.overlay, b"overlay")) if key}
    pngs[where.still] = b"\x89PNG still"
    return pngs


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    # Compositing is the render package's business (tested there); here it only has to yield bytes.
    monkeypatch.setattr(usecases, "compose_pngs", _fake_pngs)
    store, publisher, images = FakeStore(), FakePublisher(), GatedImages()
    claims = RunClaims(cast(Any, store), LEASE_S)
    still_frame = StillFrame(
        cast(Any, store), cast(Any, publisher), images, claims, Timing(heartbeat_s=0.02, retry_s=7.0)
    )
    yield World(store, publisher, images, still_frame, claims)


@pytest.mark.parametrize("post", ["post 1", "a/b", "..", ".hidden", ""])
async def test_an_id_that_cannot_name_an_object_fails_the_job_at_once(world: World, post: str) -> None:
    outcome = await world.still_frame.design_requested(_request(post=post))
    assert outcome == Ack()
    ((failed, msg_id),) = world.failures()
    assert failed.phase == c.JOB_STEP_STILL_FRAME and msg_id == message_id("job-1", "failed", 0)
    assert failed.reason.startswith(f"still frame cannot be stored: post id {post!r} cannot be used in an object key")
    assert world.images.calls == 0 and world.store.writes == 0


async def test_a_second_delivery_waits_for_the_first_and_then_hands_on_its_still(world: World) -> None:
    world.images.gate.clear()
    first = asyncio.create_task(world.still_frame.design_requested(_request()))
    await world.images.started.wait()
    # A redelivery while the first paints (bounded: without the claim it would paint too, and wait at the gate).
    second = await asyncio.wait_for(world.still_frame.design_requested(_request()), 10)
    assert isinstance(second, Retry) and 1.0 <= second.delay_s <= 7.0 and "is being made by" in second.reason
    world.images.gate.set()
    assert await first == Ack()
    assert await world.still_frame.design_requested(_request()) == Ack()  # the retry finds the stored still
    assert world.images.calls == 1
    ready = world.publisher.on(topology.STILL_READY)
    assert [msg_id for _, msg_id in ready] == [message_id("job-1", "still.ready", 0)] * 2  # deduplicated by the bus
    assert world.store.objects[STILL][0] == b"\x89PNG still"


async def test_heartbeats_and_claim_renewals_while_the_image_is_painted(world: World) -> None:
    beats = 0

    async def in_progress() -> None:
        nonlocal beats
        beats += 1

    world.images.gate.clear()
    task = asyncio.create_task(world.still_frame.design_requested(_request(), in_progress))
    await world.images.started.wait()
    first_expiry = world.claim().expires_at
    await asyncio.sleep(0.3)
    renewed = world.claim()
    world.images.gate.set()
    assert await task == Ack()
    assert beats >= 3
    assert renewed.state == "running" and renewed.expires_at > first_expiry


async def test_a_claim_left_by_a_crashed_worker_is_taken_over_once_its_lease_ran_out(world: World) -> None:
    key = claim_key(STILL)
    world.store.objects[key] = (Claim("crashed", "running", 1.0).encode(), "old")
    assert await world.still_frame.design_requested(_request()) == Ack()
    assert world.images.calls == 1 and STILL in world.store.objects


async def test_a_live_claim_of_another_worker_is_waited_for(world: World) -> None:
    lease = await world.claims.acquire(claim_key(STILL), "worker-b")
    assert not isinstance(lease, Claim)
    outcome = await world.still_frame.design_requested(_request())
    assert isinstance(outcome, Retry) and world.images.calls == 0


async def test_provider_down_after_its_retries_is_retried_and_gives_the_claim_back(world: World) -> None:
    world.images.errors.append(ImageProviderUnavailable("openai", "openai still failing after 4 attempts: HTTP 503"))
    outcome = await world.still_frame.design_requested(_request())
    assert outcome == Retry(7.0, "openai still failing after 4 attempts: HTTP 503")
    assert world.claim().state == "released" and not world.failures()
    assert await world.still_frame.design_requested(_request()) == Ack()  # no wait for the lease
    assert world.images.calls == 2


async def test_a_refusal_fails_the_job_and_a_redelivery_repeats_it_without_paying(world: World) -> None:
    world.images.errors.append(ImageRefused("openai", "rejected by the safety system", "moderation_blocked"))
    assert await world.still_frame.design_requested(_request()) == Ack()
    assert await world.still_frame.design_requested(_request()) == Ack()
    assert world.images.calls == 1
    (first, id_1), (second, id_2) = world.failures()
    assert id_1 == id_2 and first.reason == second.reason
    assert "refused the prompt (content policy, moderation_blocked)" in first.reason


async def test_store_down_before_painting_is_retried_without_a_paid_call(world: World) -> None:
    world.store.down = True
    with pytest.raises(Unavailable):  # transient: the consumer retries it until the job's deadline
        await world.still_frame.design_requested(_request())
    assert world.images.calls == 0


async def test_a_still_painted_while_the_store_was_down_is_stored_by_the_retry_without_a_second_image(
    world: World,
) -> None:
    world.store.puts_down = True
    outcome = await world.still_frame.design_requested(_request())
    assert isinstance(outcome, Retry) and "refused the put" in outcome.reason
    world.store.puts_down = False
    assert await world.still_frame.design_requested(_request()) == Ack()
    assert world.images.calls == 1 and world.store.objects[STILL][0] == b"\x89PNG still"
    assert len(world.publisher.on(topology.STILL_READY)) == 1


async def test_a_run_cancelled_at_shutdown_gives_its_claim_back(world: World) -> None:
    world.images.gate.clear()
    task = asyncio.create_task(world.still_frame.design_requested(_request()))
    await world.images.started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert world.claim().state == "released"


async def test_a_claim_write_whose_answer_was_lost_is_still_recognised_as_ours(world: World) -> None:
    world.store.answer_lost = True
    lease = await world.claims.acquire("k.claim", "me")
    assert not isinstance(lease, Claim)
    world.store.answer_lost = True
    await world.claims.renew(lease)
    assert not lease.lost
    await world.claims.release(lease)
    assert Claim.decode(world.store.objects["k.claim"][0]).state == "released"


async def test_a_holder_whose_claim_was_taken_over_knows_it(world: World) -> None:
    lease = await world.claims.acquire("k.claim", "me")
    assert not isinstance(lease, Claim)
    world.store.objects["k.claim"] = (Claim("someone-else", "running", 9e9).encode(), "theirs")
    await world.claims.renew(lease)
    assert lease.lost
    await world.claims.release(lease)  # a lost lease writes nothing more
    assert Claim.decode(world.store.objects["k.claim"][0]).owner == "someone-else"


def test_an_unreadable_claim_counts_as_released() -> None:
    assert Claim.decode(b"not json") == Claim("", "released", 0.0)
    assert Claim.decode(b'{"owner": "x", "state": "weird", "expires_at": 5}').state == "released"
    assert Claim("x", "running", 10.0).live(9.0) and not Claim("x", "running", 10.0).live(10.0)
    assert claim_key(STILL).endswith("/stills/job-1-0.claim")


async def test_a_progress_event_that_cannot_be_published_does_not_cost_the_image(world: World) -> None:
    publish = world.publisher.publish

    async def flaky(subject: str, message: Message, msg_id: str) -> None:
        if subject == topology.PROGRESS:
            raise TimeoutError("bus slow")
        await publish(subject, message, msg_id)

    world.publisher.publish = flaky  # type: ignore[method-assign]
    assert await world.still_frame.design_requested(_request()) == Ack()
    assert world.images.calls == 1 and len(world.publisher.on(topology.STILL_READY)) == 1


SOURCE = keys.still_source_key("tenant-1", "post-1", "job-1", 0)
OVERLAY = keys.still_overlay_key("tenant-1", "post-1", "job-1", 0)


async def test_after_animation_the_provider_gets_the_clean_source_and_media_store_the_overlay(world: World) -> None:
    assert await world.still_frame.design_requested(_request()) == Ack()
    ((ready, _),) = world.publisher.on(topology.STILL_READY)
    assert isinstance(ready, pipeline_pb2.StillReady)
    assert (ready.still_key, ready.source_key, ready.overlay_key) == (STILL, SOURCE, OVERLAY)
    assert world.store.objects[SOURCE][0] == b"\x89PNG source"
    assert world.store.objects[OVERLAY][0] == b"\x89PNG overlay"
    # The still goes last: a redelivery that finds it finds the whole run.
    stored = [key for key in world.store.objects if key.endswith(".png")]
    assert stored == [SOURCE, OVERLAY, STILL]


async def test_baked_text_stores_and_animates_only_the_composited_still(world: World) -> None:
    world.still_frame.text_overlay = "baked"
    assert await world.still_frame.design_requested(_request()) == Ack()
    ((ready, _),) = world.publisher.on(topology.STILL_READY)
    assert isinstance(ready, pipeline_pb2.StillReady)
    assert (ready.still_key, ready.source_key, ready.overlay_key) == (STILL, STILL, "")
    assert SOURCE not in world.store.objects and OVERLAY not in world.store.objects


async def test_a_redelivery_hands_on_only_the_layers_that_were_stored(world: World) -> None:
    world.store.objects[STILL] = (b"\x89PNG still", "e")  # painted while TEXT_OVERLAY was baked
    assert await world.still_frame.design_requested(_request()) == Ack()
    world.store.objects[SOURCE] = (b"\x89PNG source", "e")
    world.store.objects[OVERLAY] = (b"\x89PNG overlay", "e")
    assert await world.still_frame.design_requested(_request()) == Ack()
    assert world.images.calls == 0
    (first, _), (second, _) = world.publisher.on(topology.STILL_READY)
    assert isinstance(first, pipeline_pb2.StillReady) and isinstance(second, pipeline_pb2.StillReady)
    assert (first.source_key, first.overlay_key) == (STILL, "")
    assert (second.source_key, second.overlay_key) == (SOURCE, OVERLAY)


@pytest.mark.parametrize(("aspect", "frame"), [("9:16", (1080, 1920)), ("1:1", (1080, 1080))])
def test_one_layout_gives_source_overlay_and_still_at_the_deliverable_size(aspect: str, frame: tuple[int, int]) -> None:
    request = _request()
    request.spec.aspect_ratio = aspect
    where = usecases.StillKeys.of(request.ref, "after_animation")
    background = Image.new("RGB", (1024, 1536), "#334155")  # gpt-image-1's portrait size, not the deliverable's
    pngs = usecases.compose_pngs(request, usecases.brand_style(request), background, None, where)
    assert list(pngs) == [SOURCE, OVERLAY, STILL]
    images = {key: Image.open(io.BytesIO(png)) for key, png in pngs.items()}
    assert {key: (image.size, image.mode) for key, image in images.items()} == {
        SOURCE: (frame, "RGB"),
        OVERLAY: (frame, "RGBA"),
        STILL: (frame, "RGB"),
    }
    composed = Image.alpha_composite(images[SOURCE].convert("RGBA"), images[OVERLAY]).convert("RGB")
    assert composed.tobytes() == images[STILL].convert("RGB").tobytes()


def test_liveness_settings() -> None:
    base = {
        "nats_url": "nats://127.0.0.1:1",
        "do_spaces_key": "k",
        "do_spaces_secret": "s",
        "do_spaces_bucket": "b",
        "do_spaces_endpoint": "http://127.0.0.1:1",
    }
    settings = StillFrameSettings(**base)  # type: ignore[arg-type]
    assert settings.shutdown_grace_s >= settings.image_timeout_s  # a shutdown lets one image attempt finish
    assert settings.still_frame_claim_lease_s >= 2 * settings.still_frame_heartbeat_s
    with pytest.raises(ValidationError, match="at least twice"):
        StillFrameSettings(**base, still_frame_heartbeat_s=10, still_frame_claim_lease_s=15)  # type: ignore[arg-type]
