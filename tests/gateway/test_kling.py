"""Kling alone (through fal's queue API over TLS, with the real `fal_client`) on the real stack: a job succeeds and
is billed at Kling's rate, a FAILED request fails the job with fal's reason, and a cancel mid-poll cancels the
request and stops the loop.

Poll settings for this module: first check 3 s after submission, then every 2 s.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from social_video.v1 import common_pb2 as c
from svd_stack.client import StackClient
from tests.conftest import RunningStack, running_stack
from tests.gateway.helpers import Sim, cancel_mid_poll, failed_task, new_tenant, start_job, submission, wait_terminal

INTERVAL_S = 2.0


@pytest.fixture(scope="module")
def gateway_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with running_stack(
        tmp_path_factory.mktemp("svd-kling"),
        SVD_SIM_PROVIDERS="kling",
        VIDEO_POLL_INITIAL_DELAY_S="3",
        VIDEO_POLL_INTERVAL_S=str(INTERVAL_S),
        VIDEO_POLL_MAX_ATTEMPTS="30",
    ) as running:
        yield running


async def test_a_kling_job_succeeds_and_is_billed_at_klings_rate(gateway_stack: RunningStack, sim: Sim) -> None:
    client = StackClient(gateway_stack.info)
    try:
        tenant = await new_tenant(client)
        job = await wait_terminal(client, (await start_job(client, tenant)).job_id, timeout_s=90)
        assert job.status == c.JOB_STATUS_SUCCEEDED, job.error
        assert submission(gateway_stack.info, job.job_id)["provider"] == "kling"
        balance = await client.balance(tenant)
        assert (balance.available, balance.held) == (100 - 12, 0)
        calls = sim.requests(provider="fal", task_id=job.provider_job_id)
        assert {r["op"] for r in calls} >= {"status", "result"} and all(r["tls"] for r in calls)
        assert not sim.requests(provider="runway")
    finally:
        await client.close()


async def test_a_failed_kling_request_fails_the_job_with_fals_reason(gateway_stack: RunningStack, sim: Sim) -> None:
    client = StackClient(gateway_stack.info)
    try:
        job = await failed_task(client, gateway_stack.info, sim, "fal")
        assert "content_policy_violation" in job.error, job.error
    finally:
        await client.close()


async def test_cancel_mid_poll_cancels_the_kling_request_and_stops_the_loop(
    gateway_stack: RunningStack, sim: Sim
) -> None:
    client = StackClient(gateway_stack.info)
    try:
        await cancel_mid_poll(client, gateway_stack.info, sim, "fal", INTERVAL_S)
    finally:
        await client.close()
