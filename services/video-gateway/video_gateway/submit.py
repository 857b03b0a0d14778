"""Submit use case: a ready still becomes at most one provider task, on the first provider that accepts it.

A submit starts paid work, and neither provider can be asked afterwards whether a request of ours created a task (see
`providers.base`). So the run is claimed in the database before any provider is called, and each request is recorded
(provider, key) before it goes out and cleared only when the provider provably created nothing (it refused the
request, or no connection was made). Then:
- a redelivered `video.still.ready` (or a second replica) re-announces the recorded task instead of submitting again,
  and waits while the claim's holder is alive (every attempt renews the claim);
- a claim taken over from a holder that stopped mid-request (killed, or cancelled at shutdown) fails the run clearly:
  the task may exist, and submitting again could pay for a second one;
- a request sent but not answered with a task id (a timeout after sending, 5xx, 408/409, no id) fails the run
  clearly too, and is never sent again, on this provider or another;
- a provider that refuses the submit because it is unavailable to us (rate limits, no valid key, unreachable) moves
  it to the next configured provider, and the provider actually used is recorded and announced (billing charges its
  rate);
- once the provider answered (a task id, or an ambiguous failure), recording it is retried through a database outage
  (until the job's deadline) rather than lost: a lost id would leave a paid task that nothing polls;
- a provider with a concurrency cap (`capacity`) is sent the submit only once the run holds one of its slots; with
  every slot taken the claim is released, the job's label says it waits for the provider, and the message comes back
  after `slot_recheck_s` (it stays queued in JetStream: nothing is dropped, nothing spins).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from svd.bus.consumer import Ack, Outcome, Retry
from svd.errors import NotFound, is_transient
from svd.storage import ObjectStore
from svd.telemetry import metrics, tracer
from video_gateway import prompt_image
from video_gateway.capacity import Full
from video_gateway.models import FAILED, SUBMITTING
from video_gateway.motion import motion_prompt
from video_gateway.outbound import Outbound
from video_gateway.pooled import PooledProvider, Submitted
from video_gateway.providers.base import ErrorKind, ProviderError, SubmitRequest
from video_gateway.repository import Claim, Submissions
from video_gateway.selection import NO_PROVIDER, fails_over

log = logging.getLogger(__name__)
_tracer = tracer("video-gateway")
T = TypeVar("T")

NOT_TWICE = "not resubmitted so it is not paid twice"
# Retries of recording a submit's outcome while the database is unreachable.
_RECORD_BACKOFF_S, _RECORD_BACKOFF_CAP_S = 1.0, 15.0


@dataclass(frozen=True)
class ImageOptions:
    mode: str  # auto | url | data_uri
    url_ttl_s: int
    max_data_uri_bytes: int


class ClaimLost(Exception):
    """The run is no longer this worker's to submit (cancelled, or the claim was taken over)."""


class _Attempt:
    """The `AttemptLog` of one claimed run: each request recorded before it goes out, cleared when it created
    nothing. `in_flight` tells whether a request may have reached a provider without its answer being recorded."""

    def __init__(self, submissions: Submissions, ref: pipeline_pb2.JobRef, token: str) -> None:
        self._submissions = submissions
        self._ref = ref
        self.token = token
        self.attempt_id = ""
        self.provider = ""
        self.key_id = 0

    @property
    def in_flight(self) -> bool:
        return bool(self.attempt_id)

    async def begin(self, provider: str, key_id: int) -> None:
        ref = self._ref
        attempt_id = await self._submissions.begin_attempt(ref.job_id, ref.run, self.token, provider, key_id)
        if attempt_id is None:
            raise ClaimLost(f"job {self._ref.job_id} run {self._ref.run} is no longer being submitted by this worker")
        self.attempt_id, self.provider, self.key_id = attempt_id, provider, key_id

    async def clear(self) -> None:
        attempt_id, self.attempt_id = self.attempt_id, ""
        await self._submissions.clear_attempt(self._ref.job_id, self._ref.run, self.token, attempt_id)

    def settled(self) -> None:
        """Its outcome is recorded: nothing is in flight any more."""
        self.attempt_id = ""


class Submitter:
    def __init__(
        self,
        submissions: Submissions,
        providers: list[PooledProvider],
        store: ObjectStore,
        outbound: Outbound,
        image: ImageOptions,
        *,
        claim_stale_after_s: float,
        record_budget_s: float,
        max_in_flight: Mapping[str, int] | None = None,
        slot_recheck_s: float = 5.0,
    ) -> None:
        self._submissions = submissions
        self._providers = providers
        self._store = store
        self._outbound = outbound
        self._image = image
        self._claim_stale_after_s = claim_stale_after_s
        self._record_budget_s = record_budget_s
        self._max_in_flight = dict(max_in_flight or {})
        self._slot_recheck_s = slot_recheck_s

    async def still_ready(self, event: pipeline_pb2.StillReady) -> Outcome:
        ref = event.ref
        with _tracer.start_as_current_span("video_gateway.submit") as span:
            span.set_attribute("social_video.job_id", ref.job_id)
            prompt = motion_prompt(event.spec.content_type, event.spec.platform, event.spec.reviewer_feedback)
            claim = await self._submissions.claim(
                ref.job_id, ref.run, prompt, self._claim_stale_after_s, event.still_key, event.overlay_key
            )
            if not claim.mine:
                return await self._not_mine(event, claim.row)
            if claim.interrupted:
                return await self._interrupted(ref, claim)
            attempt = _Attempt(self._submissions, ref, claim.token)
            try:
                return await self._submit(event, prompt, span, attempt)
            except ClaimLost as exc:
                log.warning("%s; leaving it to the holder", exc)
                return Ack()
            except BaseException:
                if attempt.in_flight:
                    # Cancelled (shutdown) or failed mid-request: the request may have reached the provider, so the
                    # claim and its attempt stay; the redelivery finds them and does not submit again.
                    log.warning(
                        "submit of job %s run %d to %s stopped mid-request (attempt %s, key id %d); claim kept",
                        ref.job_id,
                        ref.run,
                        attempt.provider,
                        attempt.attempt_id,
                        attempt.key_id,
                    )
                else:
                    await self._release(ref, attempt.token)  # nothing left this process: the redelivery may submit
                raise

    async def _not_mine(self, event: pipeline_pb2.StillReady, row: Any) -> Outcome:
        if row.state == SUBMITTING:
            return Retry(self._until_stale(row), "another worker is submitting this run")
        if row.provider_job_id:  # submitted before: announce again (deduplicated downstream)
            await self._outbound.submitted(event, row)
        elif row.state == FAILED and row.reason:  # failed before a provider accepted it: the announcement may be lost
            await self._outbound.failed(event.ref, c.JOB_STEP_SUBMITTING, row.reason)
        return Ack()  # or cancelled

    def _until_stale(self, row: Any) -> float:
        """How long until a live-looking claim can be taken over (when its holder stopped renewing it)."""
        if row.claimed_at is None:
            return 1.0
        age = (datetime.now(UTC) - row.claimed_at).total_seconds()
        return min(30.0, max(1.0, self._claim_stale_after_s - age + 1.0))

    async def _interrupted(self, ref: pipeline_pb2.JobRef, claim: Claim) -> Outcome:
        row = claim.row
        log.error(
            "job %s run %d: a submit to %s with key id %s (attempt %s) was interrupted mid-request; failing the run",
            ref.job_id,
            ref.run,
            row.provider,
            row.key_id,
            row.attempt_id,
        )
        reason = f"submit to {row.provider} was interrupted after the request may have been sent; {NOT_TWICE}"
        return await self._fail(ref, reason, claim.token)

    async def _release(self, ref: pipeline_pb2.JobRef, token: str) -> None:
        try:
            await self._submissions.release(ref.job_id, ref.run, token)
        except Exception:  # the original error matters more; the claim then goes stale on its own
            log.exception("releasing the claim of job %s run %d failed", ref.job_id, ref.run)

    async def _submit(self, event: pipeline_pb2.StillReady, prompt: str, span: Any, attempt: _Attempt) -> Outcome:
        ref = event.ref
        if not self._providers:
            return await self._fail(ref, NO_PROVIDER, attempt.token)
        errors: list[str] = []
        announced = False
        for provider in self._providers:
            try:
                image = await self._image_for(prompt_image.animated_key(event), provider.name)
                request = SubmitRequest(
                    image,
                    prompt,
                    event.spec.duration_seconds or 5,
                    event.spec.aspect_ratio or "9:16",
                    event.spec.with_audio,
                )
                provider.adapter.check(request)  # a clip it cannot make does not wait for its slot
                full = await self._reserve(ref, provider.name, attempt.token)
                if full is not None:
                    return await self._wait_for_slot(ref, full, attempt.token)
                if not announced:
                    await self._outbound.progress(ref, c.JOB_STEP_SUBMITTING, 0, "Submitting to the video provider")
                    announced = True
                submitted = await provider.submit(request, ref.job_id, attempt)
            except NotFound as exc:
                return await self._fail(ref, f"the still is missing: {exc}", attempt.token)
            except ProviderError as exc:
                if exc.kind is ErrorKind.AMBIGUOUS:
                    log.error("job %s: %s (attempt %s); failing the run", ref.job_id, exc.message, attempt.attempt_id)
                    return await self._fail(ref, f"{exc.message}; {NOT_TWICE}", attempt.token)
                errors.append(exc.message)
                if fails_over(exc):
                    log.warning("submit of job %s to %s refused: %s", ref.job_id, provider.name, exc.message)
                    continue
                break
            span.set_attribute("social_video.provider", provider.name)
            span.set_attribute("social_video.provider_job_id", submitted.task_id)
            return await self._record(event, provider, submitted, attempt)
        return await self._fail(ref, "; ".join(errors) or NO_PROVIDER, attempt.token)

    async def _reserve(self, ref: pipeline_pb2.JobRef, provider: str, token: str) -> Full | None:
        try:
            return await self._submissions.reserve(
                ref.job_id, ref.run, token, provider, self._max_in_flight.get(provider, 0)
            )
        except LookupError as exc:
            raise ClaimLost(str(exc)) from exc

    async def _wait_for_slot(self, ref: pipeline_pb2.JobRef, full: Full, token: str) -> Outcome:
        """Every slot of the provider is taken: give the run back (nothing was sent) and look again later."""
        await self._release(ref, token)
        metrics.provider_waiting.add(1, {"provider": full.provider, "status": "MAX_IN_FLIGHT"})
        await self._outbound.progress(
            ref, c.JOB_STEP_SUBMITTING, 0, full.label, key=f"slot.{full.provider}.{full.in_flight}"
        )
        return Retry(self._slot_recheck_s, full.label)

    async def _record(
        self, event: pipeline_pb2.StillReady, provider: PooledProvider, submitted: Submitted, attempt: _Attempt
    ) -> Outcome:
        ref = event.ref
        row = await self._record_durably(ref, provider, submitted, attempt)
        attempt.settled()
        if row is None:  # cancelled while we were submitting: the task must not run on
            log.info(
                "job %s was cancelled during its submit; cancelling %s task %s",
                ref.job_id,
                provider.name,
                submitted.task_id,
            )
            await self._cancel(ref, provider, submitted)
            return Ack()
        await self._outbound.submitted(event, row)
        return Ack()

    async def _record_durably(
        self, ref: pipeline_pb2.JobRef, provider: PooledProvider, submitted: Submitted, attempt: _Attempt
    ) -> Any | None:
        what = f"recording {provider.name} task {submitted.task_id} of job {ref.job_id} run {ref.run}"
        try:
            # The task id is in the warnings: should this process die before the database is back, they are its trace.
            return await self._durably(
                ref,
                what,
                lambda: self._submissions.submitted(
                    ref.job_id,
                    ref.run,
                    attempt.token,
                    attempt.attempt_id,
                    provider.name,
                    submitted.task_id,
                    submitted.key_id,
                ),
            )
        except Exception:
            log.exception("%s (key %s) failed for good; cancelling the task", what, submitted.key_label)
            await self._cancel(ref, provider, submitted)
            raise

    async def _durably(self, ref: pipeline_pb2.JobRef, what: str, write: Callable[[], Awaitable[T]]) -> T:
        """`write`, retried through a database outage (transient errors) until the job's deadline: an outcome the
        provider already gave must not be lost, nor turned into a vaguer one, because the database blinked."""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self._record_window_s(ref)
        delay = _RECORD_BACKOFF_S
        while True:
            try:
                return await write()
            except Exception as exc:
                if not is_transient(exc) or loop.time() + delay > give_up_at:
                    raise
                log.warning("%s failed (%s); retrying in %.0f s", what, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RECORD_BACKOFF_CAP_S)

    def _record_window_s(self, ref: pipeline_pb2.JobRef) -> float:
        """How long recording an outcome may be retried: until the job's deadline, else the configured budget."""
        if ref.HasField("deadline"):
            return max(0.0, (ref.deadline.ToDatetime(tzinfo=UTC) - datetime.now(UTC)).total_seconds())
        return self._record_budget_s

    async def _cancel(self, ref: pipeline_pb2.JobRef, provider: PooledProvider, submitted: Submitted) -> None:
        try:
            await provider.cancel(submitted.task_id, ref.job_id, submitted.key_id)
        except ProviderError as exc:
            log.error("cancelling %s task %s failed: %s", provider.name, submitted.task_id, exc.message)

    async def _fail(self, ref: pipeline_pb2.JobRef, reason: str, token: str) -> Outcome:
        """End the claimed run failed, then say so (a lost announcement is repeated by the redelivery)."""
        ended = await self._durably(
            ref,
            f"failing job {ref.job_id} run {ref.run} ({reason})",
            lambda: self._submissions.finish(ref.job_id, ref.run, FAILED, reason, token=token),
        )
        if ended:
            await self._outbound.failed(ref, c.JOB_STEP_SUBMITTING, reason)
        else:
            log.info("job %s run %d ended elsewhere (cancelled or taken over); not failing it", ref.job_id, ref.run)
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
