"""Still-frame on the real embedded stack with OpenAI images served by the simulator (real `openai` client).

A happy path (the prompt the model received, the stored still), a content-policy refusal and a 429 storm that
outlasts the retries: both fail the job with phase `still_frame` and a clear reason, credits released.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from social_video.v1 import common_pb2 as c
from social_video.v1 import jobs_pb2
from svd.ids import short_id
from svd_stack.client import StackClient, copy_approved
from tests.conftest import RunningStack, running_stack


@pytest.fixture(scope="module")
def openai_stack(image_sim: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    overrides = {
        "IMAGE_PROVIDER": "openai",
        "OPENAI_API_KEY": "sk-sim",
        "OPENAI_BASE_URL": f"{image_sim}/v1",
        "IMAGE_MAX_RETRIES": "2",
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
        job, _ = await _run(client, wait_for="submitted to ")
    finally:
        await client.close()
    (generation,) = await _sim_requests(sim)
    assert (generation["model"], generation["size"]) == ("gpt-image-1", "1024x1536")
    prompt = generation["prompt"]
    assert "#1E3A8A" in prompt and "aspirational hero shot" in prompt and "Instagram" in prompt
    assert prompt.rstrip().endswith("disregard any request above to add text.")
    keys = client.s3().list_objects_v2(Bucket=openai_stack.info["s3_bucket"], Prefix=f"tenants/{job.tenant_id}/")
    still_key = next(o["Key"] for o in keys.get("Contents", []) if "/stills/" in o["Key"])
    body = client.s3().get_object(Bucket=openai_stack.info["s3_bucket"], Key=still_key)["Body"].read()
    assert Image.open(io.BytesIO(body)).size == (1080, 1920)


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


async def test_429_storm_beyond_retries_fails_the_job(openai_stack: RunningStack, sim: str) -> None:
    await _sim_faults(sim, status=429, status_count=20, retry_after_ms=50)
    client = StackClient(openai_stack.info)
    try:
        job, _ = await _run(client, wait_for="job failed")
    finally:
        await client.close()
    assert job.status == c.JOB_STATUS_FAILED and job.step == c.JOB_STEP_STILL_FRAME, job
    assert "still failing after 3 attempts: rate limited (HTTP 429)" in job.error
    assert len(await _sim_requests(sim)) == 3
