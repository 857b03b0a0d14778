"""Driving the media store on a running stack like the video gateway does: publish `video.ready`, watch outcomes.

`MediaHarness` publishes `VideoReady` events (protobuf, with a `Nats-Msg-Id`) onto the real JetStream stream and
collects the `video.stored` / `video.failed` events the media store publishes, by job id. It also reaches the
`Media` gRPC API, the S3 store with the stack's credentials, and (read only) the media store's own records.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import nats
import psycopg
from nats.aio.msg import Msg
from psycopg.rows import dict_row

from social_video.v1 import common_pb2 as c
from social_video.v1 import media_pb2, pipeline_pb2
from svd.bus import codec
from svd.ids import new_id, short_id
from svd_stack.client import StackClient

MOTION_PROMPT = "Slow push-in on the product. No text or logo movement. No cuts. Single continuous shot."


@dataclass
class Outcome:
    stored: pipeline_pb2.VideoStored | None = None
    failed: pipeline_pb2.VideoFailed | None = None
    # Every event seen (a repeated outcome is published again under the same message id).
    stored_events: int = 0
    failed_events: int = 0


class MediaHarness:
    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.client = StackClient(info)
        self.s3 = self.client.s3()
        self.bucket = info["s3_bucket"]
        self._outcomes: dict[str, Outcome] = {}
        self._changed = asyncio.Event()
        self._nc: Any = None

    async def __aenter__(self) -> MediaHarness:
        self._nc = await nats.connect(self.info["nats_url"])
        await self._nc.subscribe("video.stored", cb=self._on_stored)
        await self._nc.subscribe("video.failed", cb=self._on_failed)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._nc.drain()
        await self.client.close()

    async def _on_stored(self, msg: Msg) -> None:
        event = codec.decode(msg.data, msg.headers, pipeline_pb2.VideoStored)
        outcome = self._outcomes.setdefault(event.ref.job_id, Outcome())
        outcome.stored = outcome.stored or event
        outcome.stored_events += 1
        self._changed.set()

    async def _on_failed(self, msg: Msg) -> None:
        event = codec.decode(msg.data, msg.headers, pipeline_pb2.VideoFailed)
        outcome = self._outcomes.setdefault(event.ref.job_id, Outcome())
        outcome.failed = outcome.failed or event
        outcome.failed_events += 1
        self._changed.set()

    @staticmethod
    def new_ref() -> pipeline_pb2.JobRef:
        tenant, post = f"t-{short_id(8)}", f"p-{short_id(8)}"
        return pipeline_pb2.JobRef(job_id=new_id(), tenant_id=tenant, social_post_id=post, run=1)

    async def publish_ready(
        self,
        ref: pipeline_pb2.JobRef,
        url: str,
        *,
        delivery: int = 0,
        aspect_ratio: str = "",
        with_audio: bool = False,
        duration_seconds: int = 5,
        overlay_key: str = "",
    ) -> None:
        """`video.ready` for `ref` (a different `delivery` is a new message: a redelivery the stream won't dedupe)."""
        ready = pipeline_pb2.VideoReady(
            ref=ref,
            spec=pipeline_pb2.VideoSpec(
                platform=c.PLATFORM_INSTAGRAM,
                platform_format=c.PLATFORM_FORMAT_REEL,
                duration_seconds=duration_seconds,
                aspect_ratio=aspect_ratio,
                with_audio=with_audio,
            ),
            overlay_key=overlay_key,
            provider=c.VIDEO_PROVIDER_RUNWAY,
            provider_job_id=f"task-{short_id(8)}",
            motion_prompt=MOTION_PROMPT,
            output_urls=[url],
            still_key=f"tenants/{ref.tenant_id}/social-videos/{ref.social_post_id}/stills/{ref.job_id}-1.png",
        )
        headers = {"Nats-Msg-Id": f"{ref.job_id}:{ref.run}:ready:test{delivery}", "content-type": codec.PROTOBUF}
        await self._nc.jetstream().publish("video.ready", codec.encode_binary(ready), headers=headers)

    async def outcome(self, job_id: str, timeout_s: float = 120.0) -> Outcome:
        """The first stored/failed event for `job_id`."""
        async with asyncio.timeout(timeout_s):
            while True:
                found = self._outcomes.get(job_id)
                if found is not None and (found.stored or found.failed):
                    return found
                self._changed.clear()
                await self._changed.wait()

    def outcome_now(self, job_id: str) -> Outcome | None:
        """What was seen for `job_id` so far (None: nothing)."""
        return self._outcomes.get(job_id)

    async def events(self, job_id: str, count: int, timeout_s: float = 120.0) -> Outcome:
        """The outcome of `job_id` once at least `count` stored/failed events were seen for it."""
        async with asyncio.timeout(timeout_s):
            while True:
                found = self._outcomes.get(job_id)
                if found is not None and found.stored_events + found.failed_events >= count:
                    return found
                self._changed.clear()
                await self._changed.wait()

    def forget(self, job_id: str) -> None:
        self._outcomes.pop(job_id, None)

    async def media(self, ref: pipeline_pb2.JobRef, include_unlinked: bool = False) -> list[media_pb2.MediaRecord]:
        response = await self.client.media.ListMedia(
            media_pb2.ListMediaRequest(
                tenant_id=ref.tenant_id, social_post_id=ref.social_post_id, include_unlinked=include_unlinked
            )
        )
        return list(response.media)

    def objects(self, ref: pipeline_pb2.JobRef) -> dict[str, int]:
        """Every object of the post: key → size."""
        prefix = f"tenants/{ref.tenant_id}/social-videos/{ref.social_post_id}/"
        response = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return {o["Key"]: o["Size"] for o in response.get("Contents", [])}

    async def run_record(self, ref: pipeline_pb2.JobRef) -> dict[str, Any] | None:
        """The media store's record of the run's video, read from its database (state, lease, failure reason)."""
        url = self.info["database_url"].replace("postgresql+psycopg://", "postgresql://")
        async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as connection:
            cursor = await connection.execute(
                "SELECT media_id, state, lease_owner, lease_until, failure_reason, object_key FROM media.media"
                " WHERE job_id = %s AND run = %s AND media_type = 'social_video'",
                (ref.job_id, ref.run),
            )
            return await cursor.fetchone()

    async def uploading(self, ref: pipeline_pb2.JobRef, timeout_s: float = 60.0) -> None:
        """Wait until the run's multipart upload has started (and a part or two is in)."""
        deadline = time.monotonic() + timeout_s
        while not self.pending_uploads(ref):
            assert time.monotonic() < deadline, "the upload never started"
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)

    def pending_uploads(self, ref: pipeline_pb2.JobRef | None = None) -> list[dict[str, Any]]:
        """Unfinished multipart uploads (of the post, or of the whole tenants/ tree)."""
        prefix = f"tenants/{ref.tenant_id}/social-videos/{ref.social_post_id}/" if ref else "tenants/"
        return list(self.s3.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix).get("Uploads", []))
