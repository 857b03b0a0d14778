"""Every failure path ends the same way: job failed at its phase with the reason, the post in DM review with the
deliverable failed, a status event saying why, and the hold released (the balance is untouched)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from social_video.v1 import common_pb2 as c
from tests.dispatcher.support import (
    Simulator,
    approve,
    events_of,
    ledger,
    new_post,
    status_changes,
    tenant_client,
    wait_job,
)


def _delete_logo(client: Any, stack: Any, logo_key: str) -> None:
    client.s3().delete_object(Bucket=stack.info["s3_bucket"], Key=logo_key)


CASES: dict[str, tuple[dict[str, Any], int, str]] = {
    # fault posted to the simulator (every provider), the phase the job fails at, a part of the reason
    "provider submit error": ({"submit_status": 400, "submit_count": 4}, c.JOB_STEP_SUBMITTING, "400"),
    "provider FAILED": (
        {"task_outcome": "FAILED", "failure_code": "SAFETY.INPUT.IMAGE", "failure": "image flagged by moderation"},
        c.JOB_STEP_POLLING,
        "image flagged by moderation",
    ),
    "storing failure": ({"corrupt_output": True, "corrupt_output_count": 2}, c.JOB_STEP_STORING, "mp4"),
}


@pytest.mark.parametrize("case", [*CASES, "still-frame failure"])
async def test_failure_releases_the_hold_and_sends_the_post_to_dm_review(stack, sim: Simulator, case: str) -> None:
    async with tenant_client(stack) as (client, tenant):
        prepare: Callable[[], None]
        if case == "still-frame failure":
            assets = await client.put_brand(tenant)
            prepare = lambda: _delete_logo(client, stack, assets.logo_key)  # noqa: E731
            phase, reason_part = c.JOB_STEP_STILL_FRAME, "logo"
        else:
            fault, phase, reason_part = CASES[case]
            prepare = lambda: sim.fault(**fault)  # noqa: E731
        prepare()
        post = new_post()
        await approve(client, tenant, post)
        job = await wait_job(client, (await client.find_job(tenant, post)).job_id, timeout_s=180)

        assert job.status == c.JOB_STATUS_FAILED
        assert job.failed_phase == phase, (job.failed_phase, job.error)
        assert reason_part.lower() in job.error.lower(), job.error
        assert job.post_status == c.POST_STATUS_DM_REVIEW
        assert job.deliverable_status == c.DELIVERABLE_STATUS_FAILED
        assert job.credits_consumed == 0

        balance = await client.balance(tenant)
        assert (balance.balance, balance.held, balance.available) == (100, 0, 100)
        kinds = [e.kind for e in await ledger(client, tenant) if e.reservation_id == job.reservation_id]
        assert kinds == ["hold", "release"]

        changes = await status_changes(stack.info["nats_url"], tenant, post)
        assert changes[-1].post_status == c.POST_STATUS_DM_REVIEW
        assert changes[-1].deliverable_status == c.DELIVERABLE_STATUS_FAILED
        assert changes[-1].reason == job.error
        failure = [e for e in await events_of(client, job.job_id) if e.level == "error"]
        assert len(failure) == 1 and job.error in failure[0].message


async def test_insufficient_credits_makes_no_paid_call(stack, sim: Simulator) -> None:
    async with tenant_client(stack, credits=3) as (client, tenant):
        before = len(sim.requests(op="submit"))
        post = new_post()
        await approve(client, tenant, post, duration_seconds=10)
        job = await wait_job(client, (await client.find_job(tenant, post)).job_id)
        assert job.status == c.JOB_STATUS_FAILED
        assert job.failed_phase == c.JOB_STEP_RESERVING
        assert job.error == "insufficient credits: need 25, available 3"
        assert job.post_status == c.POST_STATUS_DM_REVIEW
        assert job.deliverable_status == c.DELIVERABLE_STATUS_FAILED
        assert len(sim.requests(op="submit")) == before
        assert (await client.balance(tenant)).available == 3
