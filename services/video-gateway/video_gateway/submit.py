"""Submit use case: a ready still becomes exactly one provider task, on the first provider that accepts it.

The run is claimed in the database before any provider is called, so a redelivered `video.still.ready` (or a second
replica) re-announces the recorded task instead of submitting again. Providers are tried primary first; a submit
refused after its retries because the provider is unavailable to us (5xx, rate limits, no valid key) moves to the
next configured provider, and the provider actually used is recorded and announced (billing charges its rate).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from svd.bus.consumer import Ack, Outcome, Retry
from svd.errors import NotFound
from svd.storage import ObjectStore
from svd.telemetry import tracer
from video_gateway import prompt_image
from video_gateway.models import FAILED, SUBMITTING
from video_gateway.motion import motion_prompt
from video_gateway.outbound import Outbound
from video_gateway.pooled import PooledProvider
from video_gateway.providers.base import ProviderError, SubmitRequest
from video_gateway.repository import Submissions
from video_gateway.selection import NO_PROVIDER, fails_over

log = logging.getLogger(__name__)
_tracer = tracer("video-gateway")


@dataclass(frozen=True)
class ImageOptions:
    mode: str  # auto | url | data_uri
    url_ttl_s: int
    max_data_uri_bytes: int


class Submitter:
    def __init__(
        self,
        submissions: Submissions,
        providers: list[PooledProvider],
        store: ObjectStore,
        outbound: Outbound,
        image: ImageOptions,
        claim_stale_after_s: float,
    ) -> None:
        self._submissions = submissions
        self._providers = providers
        self._store = store
        self._outbound = outbound
        self._image = image
        self._claim_stale_after_s = claim_stale_after_s

    async def still_ready(self, event: pipeline_pb2.StillReady) -> Outcome:
        ref = event.ref
        with _tracer.start_as_current_span("video_gateway.submit") as span:
            span.set_attribute("social_video.job_id", ref.job_id)
            prompt = motion_prompt(event.spec.content_type, event.spec.platform, event.spec.reviewer_feedback)
            mine, row = await self._submissions.claim(ref.job_id, ref.run, prompt, self._claim_stale_after_s)
            if not mine:
                if row.state == SUBMITTING:
                    return Retry(15.0, "another worker is submitting this run")
                if row.provider_job_id:  # submitted before: announce again (deduplicated downstream)
                    await self._outbound.submitted(event, row)
                return Ack()  # cancelled or failed before a provider accepted it
            try:
                return await self._submit(event, prompt, span)
            except BaseException:
                await self._submissions.release(ref.job_id, ref.run)  # let the redelivery submit at once
                raise

    async def _submit(self, event: pipeline_pb2.StillReady, prompt: str, span: Any) -> Outcome:
        ref = event.ref
        if not self._providers:
            return await self._give_up(ref, NO_PROVIDER)
        await self._outbound.progress(ref, c.JOB_STEP_SUBMITTING, 0, "Submitting to the video provider")
        errors: list[str] = []
        for provider in self._providers:
            try:
                image = await self._image_for(event.still_key, provider.name)
                request = SubmitRequest(
                    image, prompt, event.spec.duration_seconds or 5, event.spec.aspect_ratio or "9:16"
                )
                task_id = await provider.submit(request, ref.job_id)
            except NotFound as exc:
                return await self._give_up(ref, f"the still is missing: {exc}")
            except ProviderError as exc:
                errors.append(exc.message)
                if fails_over(exc):
                    log.warning("submit of job %s to %s refused: %s", ref.job_id, provider.name, exc.message)
                    continue
                break
            span.set_attribute("social_video.provider", provider.name)
            span.set_attribute("social_video.provider_job_id", task_id)
            return await self._record(event, provider, task_id)
        return await self._give_up(ref, "; ".join(errors) or NO_PROVIDER)

    async def _record(self, event: pipeline_pb2.StillReady, provider: PooledProvider, task_id: str) -> Outcome:
        ref = event.ref
        row = await self._submissions.submitted(ref.job_id, ref.run, provider.name, task_id)
        if row is None:  # cancelled while we were submitting: the task must not run on
            log.info(
                "job %s was cancelled during its submit; cancelling %s task %s", ref.job_id, provider.name, task_id
            )
            try:
                await provider.cancel(task_id, ref.job_id)
            except ProviderError as exc:
                log.warning("cancelling %s task %s failed: %s", provider.name, task_id, exc.message)
            return Ack()
        await self._outbound.submitted(event, row)
        return Ack()

    async def _give_up(self, ref: pipeline_pb2.JobRef, reason: str) -> Outcome:
        await self._outbound.failed(ref, c.JOB_STEP_SUBMITTING, reason)
        await self._submissions.finish(ref.job_id, ref.run, FAILED, reason)
        return Ack()

    async def _image_for(self, still_key: str, provider: str) -> str:
        """A presigned URL the provider can fetch, or the still inline as a data URI (see `prompt_image`)."""
        url = await self._store.presigned_get(still_key, self._image.url_ttl_s)
        if not prompt_image.use_data_uri(self._image.mode, url):
            return url
        mime = prompt_image.content_type(still_key)
        head = await self._store.head(still_key)
        if prompt_image.data_uri_size(head.size, mime) > self._image.max_data_uri_bytes:
            log.warning("still %s is too large for a data URI; sending its URL to %s", still_key, provider)
            return url
        return prompt_image.data_uri(await self._store.get_bytes(still_key), mime)
