"""Media-store use cases: store a ready video once per job run, validated and probed, with its poster.

`video_ready` claims one record per (job, run) first, so however often the event is redelivered the video gets one
object key and one Media record, then takes the run's lease (`leases`): a delivery that finds another worker storing
the run waits and touches nothing. The lease holder streams the provider's bytes into the original's key (or reuses
what an earlier attempt finished), conforms it, probes the deliverable through ranged reads and stores its poster;
the run then ends `stored` or
`failed` exactly once, and every later delivery repeats that outcome. Objects are private; `video.stored` carries a
presigned URL.

Between download and record the `conform` step makes the provider's original (at its own key) into the platform
deliverable at the record's key, and the poster is taken from the deliverable. The original is deleted once the
run is stored, unless KEEP_ORIGINAL keeps it (named on the same record: one Media per video).

What fails the job (`video.failed`, phase `storing`): a file that is not a playable MP4 or cannot be conformed (too
short, undecodable, conforming past its timeout), a source that refuses or breaks beyond its retries, ids that
cannot name an object. What does not: the object store being down or throttling past its own retries, the database
or the bus being down — those are retried (`Retry`, or the raised error) for as long as the job's deadline allows,
because the provider's URL stays valid for hours.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from media_store.conform.deliverable import Unconformable
from media_store.conform.step import Conformer, read_through
from media_store.guards import SourcePolicy, SourceRefused
from media_store.leases import Heartbeat, LeaseLost, Leases
from media_store.probe import InvalidVideo, VideoFacts, probe
from media_store.records import Records
from media_store.transfer import NotAnMp4, TransferError, transfer
from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from svd import deliverables, keys
from svd.bus import topology
from svd.bus.consumer import Ack, Outcome, Retry, backoff_s
from svd.bus.publisher import EventPublisher
from svd.enums import short_name
from svd.errors import NotFound, Unavailable
from svd.ids import message_id, new_id, short_id
from svd.storage import ObjectStore, StoredObject
from svd.telemetry import metrics, tracer

log = logging.getLogger(__name__)
_tracer = tracer("media-store")


@dataclass(frozen=True)
class TransferConfig:
    max_bytes: int
    part_size: int
    parts_in_flight: int
    attempts: int
    backoff_s: float
    deadline_s: float
    heartbeat_s: float
    allowed_hosts: dict[str, list[str]] = field(default_factory=dict)
    allow_loopback_http: bool = False
    stored_url_ttl_s: int = 24 * 3600
    # Backoff of a run retried because the object store is unavailable (base * 2^(delivery-1), capped).
    retry_base_s: float = 1.0
    retry_cap_s: float = 60.0

    def policy(self, provider: str) -> SourcePolicy:
        return SourcePolicy(tuple(self.allowed_hosts.get(provider, ())), self.allow_loopback_http)


class StoringFailed(Exception):
    """The video cannot be stored; the job fails with this reason."""


@dataclass
class MediaStore:
    records: Records
    leases: Leases
    store: ObjectStore
    http: httpx.AsyncClient
    publisher: EventPublisher
    config: TransferConfig
    conform: Conformer

    async def video_ready(
        self, event: pipeline_pb2.VideoReady, heartbeat: Heartbeat | None = None, num_delivered: int = 1
    ) -> Outcome:
        ref = event.ref
        with _tracer.start_as_current_span("media_store.store_video") as span:
            span.set_attribute("social_video.job_id", ref.job_id)
            try:
                key = keys.video_key(ref.tenant_id, ref.social_post_id, short_id())
            except ValueError as exc:  # can never succeed: no record, no object, the job fails now
                await self._publish_failed(event, f"cannot store the video: {exc}")
                return Ack()
            record = await self.records.claim(event, key)
            span.set_attribute("social_video.object_key", record.object_key)
            owner = new_id()
            claim = await self.leases.acquire(record.media_id, owner)
            if claim.state != "uploading":
                return await self._repeat_outcome(event, await self.records.get(record.media_id))
            if not claim.acquired:
                log.info("job %s run %d: another worker is storing it (%.0f s left)", ref.job_id, ref.run, claim.wait_s)
                return Retry(min(max(claim.wait_s, 1.0), 60.0), "another worker is storing this run")
            return await self._store_leased(event, record, owner, claim.took_over, heartbeat, num_delivered)

    async def _store_leased(
        self,
        event: pipeline_pb2.VideoReady,
        record: Any,
        owner: str,
        took_over: bool,
        heartbeat: Heartbeat | None,
        num_delivered: int,
    ) -> Outcome:
        ref = event.ref
        if took_over:
            log.info("job %s run %d: took over the run from a worker whose lease expired", ref.job_id, ref.run)
        try:
            stored = await self.leases.hold(record.media_id, owner, heartbeat, self._store(event, record, owner))
        except StoringFailed as exc:
            log.warning("job %s run %d: storing failed: %s", ref.job_id, ref.run, exc)
            if not await self.records.finish_failed(record.media_id, owner, str(exc)):
                return Retry(self.leases.ttl_s, "lost the lease before recording the failure")
            await self._publish_failed(event, str(exc))
            return Ack()
        except Unavailable as exc:  # the object store, after its own retries: the run waits, the job does not fail
            await self.leases.release_quietly(record.media_id, owner)
            delay = backoff_s(num_delivered, self.config.retry_base_s, self.config.retry_cap_s)
            reason = f"object store unavailable: {exc.message}"
            log.warning("job %s run %d: %s; trying again in %.0f s", ref.job_id, ref.run, reason, delay)
            return Retry(delay, reason)
        except LeaseLost as exc:
            log.warning("job %s run %d: stopped storing: %s", ref.job_id, ref.run, exc)
            return Retry(self.leases.ttl_s, f"stopped storing: {exc}")
        except BaseException:  # cancelled (shutdown) or the database/bus down: the next delivery starts at once
            await self.leases.release_quietly(record.media_id, owner)
            raise
        await self._publish_stored(event, stored)
        return Ack()

    async def _repeat_outcome(self, event: pipeline_pb2.VideoReady, record: Any) -> Outcome:
        """A finished run's outcome again (the same message id: the stream drops the copy if the first got out)."""
        if record.state == "stored":
            await self._publish_stored(event, record)
        else:
            await self._publish_failed(event, record.failure_reason or "storing failed")
        return Ack()

    async def _store(self, event: pipeline_pb2.VideoReady, record: Any, owner: str) -> Any:
        """Download the original, conform it into the record's key, probe the deliverable, store its poster.

        The original goes to its own key first, so whichever step an earlier attempt reached is picked up again:
        a deliverable already at the key is final; an original already uploaded is conformed without downloading."""
        key = record.object_key
        original_key = keys.original_key(key)
        spec = self._spec(event)
        deliverable = await self._uploaded(key)
        if deliverable is None:
            original = await self._uploaded(original_key)
            if original is None:
                if not event.output_urls:
                    raise StoringFailed("the provider returned no output URL")
                await self._progress(event.ref, "Downloading and storing the video")
                # We hold the run's lease: any unfinished upload of this key is a dead attempt's.
                aborted = await self.store.abort_uploads(original_key, exact=True)
                if aborted:
                    log.info("aborted %d unfinished upload(s) of %s left by an earlier attempt", len(aborted), key)
                original = await self._transfer(event, original_key)
            else:
                log.info("reusing %s, uploaded by an earlier attempt at this run", original_key)
            deliverable = await self._conform(event, record, owner, original, spec)
        else:
            log.info("reusing %s, conformed by an earlier attempt at this run", key)
        try:
            facts, poster = await self._probe(deliverable)
        except InvalidVideo as exc:
            await self._discard(key, original_key)  # never media: the pipeline keeps only valid videos
            raise StoringFailed(f"the conformed video is not a playable MP4: {exc}") from exc
        poster_key = keys.poster_key(key)
        await self.store.put_bytes(poster_key, poster, "image/jpeg")
        kept = original_key if self.conform.config.keep_original else None
        stored = await self.records.finish_stored(record, owner, deliverable, facts, poster_key, len(poster), kept)
        if stored is None:
            raise LeaseLost("another worker took the run over before it was recorded")
        if kept is None:
            try:
                await self.store.delete(original_key)
            except Unavailable as exc:  # the run is stored; a leftover original costs storage, not correctness
                log.warning("could not delete %s: %s", original_key, exc)
        return stored

    def _spec(self, event: pipeline_pb2.VideoReady) -> deliverables.VideoSpec:
        spec = event.spec
        try:
            return deliverables.video_spec(spec.aspect_ratio, spec.duration_seconds or 5, spec.with_audio)
        except ValueError as exc:
            raise StoringFailed(f"cannot make the deliverable: {exc}") from exc

    async def _conform(
        self, event: pipeline_pb2.VideoReady, record: Any, owner: str, original: StoredObject, spec: Any
    ) -> StoredObject:
        """The deliverable made from `original`, stored at the record's key (what the provider rendered is noted
        on the record first, so an attempt that finds the deliverable already there still knows it)."""
        key = record.object_key
        try:
            facts = await self.conform.inspect(original, spec)
        except (InvalidVideo, Unconformable) as exc:
            await self._discard(key, original.key)
            prefix = "the provider's file is not a playable MP4" if isinstance(exc, InvalidVideo) else "unusable"
            raise StoringFailed(f"{prefix}: {exc}") from exc
        if not await self.records.note_source(record.media_id, owner, facts.width, facts.height, facts.fps):
            raise LeaseLost("another worker took the run over")
        await self._progress(event.ref, f"Conforming the video to {spec.width}x{spec.height}")
        started = time.monotonic()
        with _tracer.start_as_current_span("media_store.conform") as span:
            try:
                plan = await self.conform.produce(original, key, facts, spec, event.overlay_key)
            except Unconformable as exc:
                metrics.conform_duration.record(time.monotonic() - started, {"action": "failed"})
                await self._discard(key, original.key)
                raise StoringFailed(str(exc)) from exc
            span.set_attribute("social_video.conform", plan.action)
        metrics.conform_duration.record(time.monotonic() - started, {"action": plan.action})
        return await self.store.head(key)

    async def _discard(self, *object_keys: str) -> None:
        for object_key in object_keys:
            await self.store.delete(object_key)

    async def _uploaded(self, key: str) -> StoredObject | None:
        """The video object an earlier attempt completed (a multipart upload appears only once complete)."""
        try:
            return await self.store.head(key)
        except NotFound:
            return None

    async def _transfer(self, event: pipeline_pb2.VideoReady, key: str) -> StoredObject:
        config = self.config
        provider = short_name(c.VideoProvider, event.provider)
        try:
            async with asyncio.timeout(config.deadline_s):
                return await transfer(
                    self.http,
                    event.output_urls[0],
                    config.policy(provider),
                    self.store,
                    key,
                    attempts=config.attempts,
                    max_bytes=config.max_bytes,
                    part_size=config.part_size,
                    parts_in_flight=config.parts_in_flight,
                    base_delay_s=config.backoff_s,
                )
        except TimeoutError as exc:
            raise StoringFailed(f"storing took longer than {config.deadline_s:.0f} s") from exc
        except (TransferError, SourceRefused) as exc:
            raise StoringFailed(exc.message) from exc
        except NotAnMp4 as exc:
            raise StoringFailed(str(exc)) from exc

    async def _probe(self, obj: StoredObject) -> tuple[VideoFacts, bytes]:
        """Probe the stored object; a read that failed makes it `Unavailable`, never an invalid video."""
        return await read_through(self.store, obj, probe)

    async def _publish_stored(self, event: pipeline_pb2.VideoReady, record: Any) -> None:
        ref = event.ref
        url = await self.store.presigned_get(record.object_key, self.config.stored_url_ttl_s, via_cdn=True)
        stored = pipeline_pb2.VideoStored(
            ref=ref,
            provider=event.provider,
            media_id=record.media_id,
            object_key=record.object_key,
            public_url=url,
            duration_seconds=record.duration_seconds or 0.0,
            size_bytes=record.size_bytes or 0,
            still_key=event.still_key,
            requested_duration_seconds=event.spec.duration_seconds,
        )
        await self.publisher.publish(topology.STORED, stored, message_id(ref.job_id, "stored", ref.run))

    async def _progress(self, ref: pipeline_pb2.JobRef, label: str) -> None:
        progress = pipeline_pb2.VideoProgress(ref=ref, step=c.JOB_STEP_STORING, percent=0, label=label)
        await self.publisher.publish(topology.PROGRESS, progress, message_id(ref.job_id, "progress.storing", ref.run))

    async def _publish_failed(self, event: pipeline_pb2.VideoReady, reason: str) -> None:
        ref = event.ref
        failed = pipeline_pb2.VideoFailed(
            ref=ref,
            phase=c.JOB_STEP_STORING,
            reason=reason,
            provider=event.provider,
            provider_job_id=event.provider_job_id,
        )
        await self.publisher.publish(topology.FAILED, failed, message_id(ref.job_id, "failed", ref.run))
