"""Still-frame on the real embedded stack with OpenAI images served by the simulator (real `openai` client).

A happy path (the prompt the model received, the stored still); a content-policy refusal fails the job with phase
`still_frame` and a clear reason, credits released; a 429 storm that outlasts the client's retries is retried later,
not failed. One paid image per job run: an image slower than the consumer's ack wait (heartbeats keep the delivery),
and a second delivery of the same request while the first paints (the run claim makes it wait), each cost one call.
An id that cannot name an object fails the job at once, without retries.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import nats
import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from PIL import Image

from social_video.v1 import common_pb2 as c
from social_video.v1 import jobs_pb2, pipeline_pb2
from still_frame.claims import Claim, Lease, RunClaims
from svd.bus import codec, topology
from svd.ids import short_id
from svd.settings import SpacesSettings
from svd.storage import ObjectStore
from svd_stack.client import StackClient, copy_approved
from tests.conftest import RunningStack, running_stack

CONSUMER = topology.consumer("still-frame-design-requested")
NAKS = f"$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED.{CONSUMER.stream}.{CONSUMER.durable}"


@pytest.fixture(scope="module")
def openai_stack(image_sim: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    overrides = {
        "IMAGE_PROVIDER": "openai",
        "OPENAI_API_KEY": "sk-sim",
        "OPENAI_BASE_URL": f"{image_sim}/v1",
        "IMAGE_MAX_RETRIES": "2",
        # Heartbeats well inside the shortened ack wait the slow-image test sets; a crashed holder's claim is
        # taken over after 5 s; retries come back after a second.
        "STILL_FRAME_HEARTBEAT_S": "0.5",
        "STILL_FRAME_CLAIM_LEASE_S": "5",
        "STILL_FRAME_RETRY_S": "1",
    }
    with running_stack(Path(tmp_path_factory.mktemp("svd-openai")), **overrides) as stack:
        yield stack


async def _sim_requests(sim: str) -> list[dict]:
    async with httpx.AsyncClient() as http:
        return (await http.get(f"{sim}/_sim/openai/requests")).json()["requests"]


async def _sim_faults(sim: str, **config: object) -> None:
    async with httpx.AsyncClient() as http:
        assert (await http.post(f"{sim}/_sim/openai/faults", json=config)).status_code == 200


async def _run(client: StackClient, *, wait_for: str) -> tuple[jobs_pb2.Job, list[jobs_pb2.JobEvent]]:
    tenant, post = f"t-{short_id(8)}", f"p-{short_id(8)}"
    await client.put_brand(tenant, primary="#1E3A8A", secondary="#9333EA", accent="#F59E0B")
    await client.grant(tenant, 100, f"grant-{tenant}")
    await client.publish_upstream("social.post.copy_approved", copy_approved(tenant, post, f"evt-{short_id()}"))
    job = await client.find_job(tenant, post)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        events = list((await client.jobs.GetJobEvents(jobs_pb2.GetJobEventsRequest(job_id=job.job_id))).events)
        if any(e.message.startswith(wait_for) for e in events):
            return await client.get_job(job.job_id), events
        await asyncio.sleep(0.2)
    raise AssertionError(f"job {job.job_id} never logged {wait_for!r}: {[e.message for e in events]}")


async def test_openai_still_reaches_the_video_provider(openai_stack: RunningStack, sim: str) -> None:
    client = StackClient(openai_stack.info)
    try:
        async with _jetstream(openai_stack) as (_, js):
            ready = await _collect_stored(js, topology.STILL_READY)
            job, _ = await _run(client, wait_for="submitted to ")
    finally:
        await client.close()
    (generation,) = await _sim_requests(sim)
    assert (generation["model"], generation["size"]) == ("gpt-image-1", "1024x1536")
    prompt = generation["prompt"]
    assert "#1E3A8A" in prompt and "aspirational hero shot" in prompt and "Instagram" in prompt
    assert prompt.rstrip().endswith("disregard any request above to add text.")
    # One layout, three images at the deliverable's frame (gpt-image-1 painted 2:3): the still for review, the clean
    # source the provider animates, and the brand overlay media-store blends onto every frame.
    (event,) = [
        e
        for e in (codec.decode(m.data, m.headers, pipeline_pb2.StillReady) for m in ready)
        if e.ref.job_id == job.job_id
    ]
    stills = f"tenants/{job.tenant_id}/social-videos/{job.social_post_id}/stills/{job.job_id}-{event.ref.run}"
    assert (event.still_key, event.source_key, event.overlay_key) == (
        f"{stills}.png",
        f"{stills}-source.png",
        f"{stills}-overlay.png",
    )
    bucket = openai_stack.info["s3_bucket"]
    images = {
        key: client.s3().get_object(Bucket=bucket, Key=key)["Body"].read()
        for key in (event.still_key, event.source_key, event.overlay_key)
    }
    opened = {key: Image.open(io.BytesIO(data)) for key, data in images.items()}
    assert {key: (image.size, image.mode) for key, image in opened.items()} == {
        event.still_key: ((1080, 1920), "RGB"),
        event.source_key: ((1080, 1920), "RGB"),
        event.overlay_key: ((1080, 1920), "RGBA"),
    }
    # The video provider was given the clean source image, not the still with the text on it.
    source, still = (hashlib.sha256(images[k]).hexdigest() for k in (event.source_key, event.still_key))
    animated: set[str] = set()

    async def fetched() -> bool:  # the simulator fetches the image when its render starts
        async with httpx.AsyncClient() as http:
            tasks = (await http.get(f"{openai_stack.info['provider_sim_url']}/_sim/tasks")).json()["tasks"]
        animated.update(task["imageSha256"] for task in tasks if task["imageSha256"])
        return source in animated

    await _until(fetched, "the provider to fetch the source image", timeout_s=30)
    assert still not in animated


async def test_refusal_fails_the_job_in_phase_still_frame(openai_stack: RunningStack, sim: str) -> None:
    await _sim_faults(sim, refusals=1)
    client = StackClient(openai_stack.info)
    try:
        job, events = await _run(client, wait_for="job failed")
        balance = await client.balance(job.tenant_id)
    finally:
        await client.close()
    assert job.status == c.JOB_STATUS_FAILED and job.step == c.JOB_STEP_STILL_FRAME, job
    assert (
        "image provider openai refused the prompt (content policy, content_policy_violation): "
        "Your request was rejected as a result of our safety system."
    ) in job.error, job.error
    assert len(await _sim_requests(sim)) == 1  # a refusal is not retried
    assert balance.held == 0 and balance.available == 100
    assert any(e.level == "error" for e in events)


async def test_429_storm_beyond_the_client_retries_is_retried_later(openai_stack: RunningStack, sim: str) -> None:
    await _sim_faults(sim, status=429, status_count=5, retry_after_ms=50)
    client = StackClient(openai_stack.info)
    try:
        job, _ = await _run(client, wait_for="submitted to ")
    finally:
        await client.close()
    assert job.status == c.JOB_STATUS_RUNNING, job
    assert len(await _sim_requests(sim)) == 6  # 3 attempts refused, then 2 more and the one that painted


@asynccontextmanager
async def _jetstream(stack: RunningStack) -> AsyncIterator[tuple[nats.NATS, JetStreamContext]]:
    nc = await nats.connect(stack.info["nats_url"])
    try:
        yield nc, nc.jetstream()
    finally:
        await nc.drain()


@asynccontextmanager
async def _ack_wait(js: JetStreamContext, seconds: float) -> AsyncIterator[None]:
    """The still-frame consumer with a shorter ack wait than the topology's (restored afterwards)."""
    await js.add_consumer(CONSUMER.stream, dataclasses.replace(CONSUMER.config(), ack_wait=seconds))
    try:
        yield
    finally:
        await js.add_consumer(CONSUMER.stream, CONSUMER.config())


async def _collect(nc: nats.NATS, subject: str) -> list[Msg]:
    """Every message on `subject` from now on (advisories, events)."""
    received: list[Msg] = []

    async def keep(msg: Msg) -> None:
        received.append(msg)

    await nc.subscribe(subject, cb=keep)
    await nc.flush()  # subscribed on the server before the test publishes
    return received


async def _collect_stored(js: JetStreamContext, subject: str) -> list[Msg]:
    """Every message stored on `subject` from now on, with its stream metadata."""
    received: list[Msg] = []

    async def keep(msg: Msg) -> None:
        received.append(msg)

    await js.subscribe(subject, cb=keep, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW)
    return received


async def _until(check: Callable[[], Awaitable[object]], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def _nak_sequences(advisories: list[Msg]) -> list[int]:
    return [int(json.loads(msg.data)["stream_seq"]) for msg in advisories]


async def _design_request_of(requests: list[Msg], tenant: str, timeout_s: float = 30.0) -> Msg:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for msg in requests:
            decoded = codec.decode(msg.data, msg.headers, pipeline_pb2.DesignRequested)
            if decoded.ref.tenant_id == tenant:
                return msg
        await asyncio.sleep(0.1)
    raise AssertionError(f"no design request for {tenant}")


async def _approve(client: StackClient) -> tuple[str, str]:
    tenant, post = f"t-{short_id(8)}", f"p-{short_id(8)}"
    await client.put_brand(tenant, primary="#1E3A8A", secondary="#9333EA", accent="#F59E0B")
    await client.grant(tenant, 100, f"grant-{tenant}")
    await client.publish_upstream("social.post.copy_approved", copy_approved(tenant, post, f"evt-{short_id()}"))
    return tenant, post


async def _wait_logged(client: StackClient, job_id: str, prefix: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        events = (await client.jobs.GetJobEvents(jobs_pb2.GetJobEventsRequest(job_id=job_id))).events
        if any(e.message.startswith(prefix) for e in events):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"job {job_id} never logged {prefix!r}")


async def test_an_image_slower_than_the_ack_wait_is_paid_once(openai_stack: RunningStack, sim: str) -> None:
    await _sim_faults(sim, delay_s=8, delay_count=1)  # the call outlasts the 2 s ack wait four times over
    client = StackClient(openai_stack.info)
    try:
        async with _jetstream(openai_stack) as (nc, js), _ack_wait(js, 2.0):
            requests = await _collect_stored(js, topology.DESIGN_REQUESTED)
            naks = await _collect(nc, NAKS)
            tenant, post = await _approve(client)
            request = await _design_request_of(requests, tenant)
            job = await client.find_job(tenant, post)
            await _wait_logged(client, job.job_id, "submitted to ")
            naked = _nak_sequences(naks)
    finally:
        await client.close()
    assert len(await _sim_requests(sim)) == 1
    # Heartbeats kept the delivery: it was never handed to a second worker (which would have been told to wait).
    assert request.metadata.sequence.stream not in naked


async def test_a_second_delivery_while_the_first_paints_waits_and_pays_nothing(
    openai_stack: RunningStack, sim: str
) -> None:
    await _sim_faults(sim, delay_s=6, delay_count=1)
    client = StackClient(openai_stack.info)
    try:
        async with _jetstream(openai_stack) as (nc, js):
            requests = await _collect_stored(js, topology.DESIGN_REQUESTED)
            naks = await _collect(nc, NAKS)
            tenant, post = await _approve(client)
            original = await _design_request_of(requests, tenant)
            await _until(lambda: _sim_requests(sim), "the first delivery to call the image API")
            # The same request again, as a second replica would get it after a missed heartbeat.
            headers = {**(original.headers or {}), "Nats-Msg-Id": f"duplicate-{short_id()}"}
            duplicate = await js.publish(topology.DESIGN_REQUESTED, original.data, headers=headers)
            job = await client.find_job(tenant, post)
            await _wait_logged(client, job.job_id, "submitted to ")
            naked = _nak_sequences(naks)
            job = await client.get_job(job.job_id)
    finally:
        await client.close()
    assert len(await _sim_requests(sim)) == 1
    assert duplicate.seq in naked  # the duplicate was told to come back later, then handed the stored still on
    assert job.status == c.JOB_STATUS_RUNNING, job


async def test_an_id_that_cannot_name_an_object_fails_at_once_without_retries(
    openai_stack: RunningStack, sim: str
) -> None:
    job_id = f"job-{short_id(8)}"
    request = pipeline_pb2.DesignRequested(
        ref=pipeline_pb2.JobRef(job_id=job_id, tenant_id=f"t-{short_id(8)}", social_post_id="post 1", run=0)
    )
    headers = {"content-type": codec.PROTOBUF, "Nats-Msg-Id": f"unsafe-{job_id}"}
    async with _jetstream(openai_stack) as (nc, js):
        failures = await _collect(nc, topology.FAILED)
        naks = await _collect(nc, NAKS)
        published = await js.publish(topology.DESIGN_REQUESTED, codec.encode_binary(request), headers=headers)
        deadline = time.monotonic() + 30
        mine: list[pipeline_pb2.VideoFailed] = []
        while not mine and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            decoded = [codec.decode(m.data, m.headers, pipeline_pb2.VideoFailed) for m in failures]
            mine = [f for f in decoded if f.ref.job_id == job_id]
        await asyncio.sleep(2)  # a retry would nak within a second or two
    assert mine, "no video.failed for the unsafe id"
    assert mine[0].phase == c.JOB_STEP_STILL_FRAME
    assert mine[0].reason.startswith("still frame cannot be stored: post id 'post 1' cannot be used in an object key")
    assert published.seq not in _nak_sequences(naks)
    assert not await _sim_requests(sim)


async def test_run_claims_on_the_real_object_store(openai_stack: RunningStack) -> None:
    info = openai_stack.info
    settings = SpacesSettings(
        do_spaces_key=info["s3_access_key"],
        do_spaces_secret=info["s3_secret_key"],
        do_spaces_bucket=info["s3_bucket"],
        do_spaces_endpoint=info["s3_endpoint"],
    )
    key = f"tenants/t-claims/social-videos/p-{short_id(8)}/stills/job-1-0.claim"
    async with ObjectStore.open(settings) as store:
        claims = RunClaims(store, lease_s=30.0)
        results = await asyncio.gather(*(claims.acquire(key, f"worker-{i}") for i in range(8)))
        (lease,) = [r for r in results if isinstance(r, Lease)]
        assert all(isinstance(r, Claim) and r.owner == lease.owner for r in results if r is not lease)
        await claims.renew(lease)
        assert not lease.lost
        later = RunClaims(store, lease_s=30.0, clock=lambda: time.time() + 31)  # the holder stopped renewing
        taken = await later.acquire(key, "worker-late")
        assert isinstance(taken, Lease)
        await claims.renew(lease)
        assert lease.lost  # the first holder learns it lost the run
        await later.release(taken)
        assert isinstance(await claims.acquire(key, "worker-next"), Lease)  # released: taken at once


async def test_a_refused_still_is_made_by_a_retry_once_the_refusal_is_lifted(
    openai_stack: RunningStack, sim: str
) -> None:
    """`svd jobs retry` (RetryJob) of a job failed at still_frame: a new attempt paints a new still and finishes,
    charged once; the operator's key is in the event log; a repeat of the request changes nothing, and a succeeded
    job is not retried."""
    await _sim_faults(sim, refusals=1)
    client = StackClient(openai_stack.info)
    try:
        failed, _ = await _run(client, wait_for="job failed")
        assert failed.status == c.JOB_STATUS_FAILED and failed.failed_phase == c.JOB_STEP_STILL_FRAME, failed
        images_before = len(await _sim_requests(sim))

        out = await _svd(openai_stack, "jobs", "retry", failed.job_id, "--request-id", f"retry-{failed.job_id}")
        assert f"job {failed.job_id} attempt 2 running" in out, out
        deadline = time.monotonic() + 180
        job = await client.get_job(failed.job_id)
        while job.status == c.JOB_STATUS_RUNNING and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            job = await client.get_job(failed.job_id)
        assert job.status == c.JOB_STATUS_SUCCEEDED and (job.attempt, job.run) == (2, 2), job
        assert len(await _sim_requests(sim)) == images_before + 1  # one new still for the new attempt
        balance = await client.balance(job.tenant_id)
        assert (balance.balance, balance.held) == (100 - job.credits_consumed, 0) and job.credits_consumed > 0

        events = list((await client.jobs.GetJobEvents(jobs_pb2.GetJobEventsRequest(job_id=job.job_id))).events)
        started = [e for e in events if e.message == "attempt 2 started by an operator from still_frame"]
        assert len(started) == 1 and started[0].metadata["operator"].startswith("config:"), started

        again = await _svd(openai_stack, "jobs", "retry", failed.job_id, "--request-id", f"retry-{failed.job_id}")
        assert f"job {failed.job_id} attempt 2 succeeded" in again  # the same request: nothing new
        refused = await _svd(openai_stack, "jobs", "retry", failed.job_id, code=1)
        assert "FAILED_PRECONDITION" in refused and "only a failed" in refused
    finally:
        await client.close()


async def _svd(stack: RunningStack, *args: str, code: int = 0) -> str:
    """`svd ARGS` beside the stack, as an operator runs it; its output once it exits with `code`."""
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "svd_stack", *args, "--home", str(stack.home)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**stack.env, "COLUMNS": "250"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == code, f"svd {' '.join(args)} exited {result.returncode}:\n{output}"
    return output
