"""No paid provider call twice, on the real stack: a submit is sent again only where the provider provably created
nothing, and every task is checked and cancelled with the key that created it.

The simulator scopes tasks per key here (`PROVIDER_SIM_TASK_SCOPE=key`: each key is its own organisation, as keys of
several Runway organisations are), and the gateway has two Runway keys and a Kling fallback. Status calls time out
after 2 s, submits after 8 s (`RUNWAY_SUBMIT_TIMEOUT_S`): before the fix a submit used the status timeout and was
retried, then failed over to Kling, after the request had been sent. Tests run in file order (one restarts the
gateway, one PostgreSQL, the last revokes a key).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from social_video.v1 import common_pb2 as c
from svd_stack.client import StackClient
from tests.conftest import RunningStack, _exists, running_stack
from tests.gateway.helpers import (
    Sim,
    cancel_mid_poll,
    new_tenant,
    start_job,
    submission,
    wait_for,
    wait_submitted,
    wait_terminal,
)
from video_gateway.keypool import label

SUBMIT_TIMEOUT_S = 8.0
SECOND_ORG_KEY = "rk-second-org-key-9999"
NOT_TWICE = "not resubmitted so it is not paid twice"


@pytest.fixture(scope="module")
def gateway_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with running_stack(
        tmp_path_factory.mktemp("svd-once"),
        SVD_SIM_PROVIDERS="runway,kling",
        RUNWAY_API_KEYS=SECOND_ORG_KEY,
        PROVIDER_SIM_TASK_SCOPE="key",
        PROVIDER_TIMEOUT_S="2",
        RUNWAY_SUBMIT_TIMEOUT_S=str(SUBMIT_TIMEOUT_S),
        KLING_SUBMIT_TIMEOUT_S=str(SUBMIT_TIMEOUT_S),
        PROVIDER_CONNECT_TIMEOUT_S="2",
        SUBMIT_CLAIM_MARGIN_S="3",
        # SIGTERM cancels a submit still waiting after 2 s (the case where its answer is lost).
        SHUTDOWN_GRACE_S="2",
        VIDEO_POLL_INITIAL_DELAY_S="1",
        VIDEO_POLL_INTERVAL_S="1",
        # Renders share two workers on a busy machine: a window long enough for a few at once.
        VIDEO_POLL_MAX_ATTEMPTS="240",
    ) as running:
        yield running


def last_seq(sim: Sim) -> int:
    return max((r["seq"] for r in sim.requests()), default=0)


def submits_since(sim: Sim, seq: int) -> list[dict[str, Any]]:
    """Every submit the simulator answered since `seq`, of either provider (journaled when answered)."""
    return [r for r in sim.requests(op="submit") if r["seq"] > seq]


async def settled_submits(sim: Sim, seq: int, late_s: float) -> list[dict[str, Any]]:
    """The submits since `seq`, once a late answer (`late_s`) has surely been journaled."""
    await wait_for(lambda: submits_since(sim, seq), late_s + 30, "the submit to be answered")
    await asyncio.sleep(3)  # anything sent again would be answered (and journaled) by now
    return submits_since(sim, seq)


def runway_tasks(sim: Sim) -> set[str]:
    return {t["id"] for t in sim.tasks(provider="runway")}


async def submit_in_flight(sim: Sim, known: set[str]) -> None:
    """Wait until the provider has received a new submit (its task exists) whose answer it is holding back."""
    await wait_for(lambda: runway_tasks(sim) - known, 90, "the submit request to reach the provider")


async def test_a_slow_submit_answer_is_awaited_once_then_polled_and_the_job_succeeds(
    gateway_stack: RunningStack, sim: Sim
) -> None:
    client = StackClient(gateway_stack.info)
    try:
        tenant = await new_tenant(client)
        since = last_seq(sim)
        sim.faults(provider="runway", submit_delay_seconds=4)  # past the 2 s status timeout, within the submit's
        job = await wait_terminal(client, (await start_job(client, tenant)).job_id, timeout_s=120)
        assert job.status == c.JOB_STATUS_SUCCEEDED, job.error

        submits = await settled_submits(sim, since, 4)
        assert [(r["provider"], r["status"], r["task_id"]) for r in submits] == [("runway", 200, job.provider_job_id)]
        checks = sim.requests(provider="runway", op="status", task_id=job.provider_job_id)
        assert checks and {r["key"] for r in checks} == {submits[0]["key"]}
        balance = await client.balance(tenant)
        assert (balance.available, balance.held) == (100 - 15, 0)
    finally:
        await client.close()


async def test_a_submit_unanswered_within_its_timeout_fails_clearly_and_is_never_sent_again(
    gateway_stack: RunningStack, sim: Sim
) -> None:
    info = gateway_stack.info
    client = StackClient(info)
    try:
        tenant = await new_tenant(client)
        since = last_seq(sim)
        sim.faults(provider="runway", submit_delay_seconds=SUBMIT_TIMEOUT_S + 4)
        job = await wait_terminal(client, (await start_job(client, tenant)).job_id, timeout_s=120)
        assert job.status == c.JOB_STATUS_FAILED
        assert job.failed_phase == c.JOB_STEP_SUBMITTING
        assert "submit to runway timed out after the request was sent" in job.error and NOT_TWICE in job.error

        # The provider did create (and bill) one task; nothing was sent again, to Runway or to Kling.
        submits = await settled_submits(sim, since, SUBMIT_TIMEOUT_S + 4)
        assert [(r["provider"], r["status"]) for r in submits] == [("runway", 200)]
        row = submission(info, job.job_id)
        assert row["state"] == "failed" and row["attempt_id"] and row["provider"] == "runway"
        balance = await client.balance(tenant)
        assert (balance.available, balance.held) == (100, 0)
    finally:
        await client.close()


async def test_a_server_error_on_submit_is_neither_retried_nor_failed_over(
    gateway_stack: RunningStack, sim: Sim
) -> None:
    client = StackClient(gateway_stack.info)
    try:
        tenant = await new_tenant(client)
        since = last_seq(sim)
        sim.faults(provider="runway", submit_status=503, submit_count=1)
        job = await wait_terminal(client, (await start_job(client, tenant)).job_id, timeout_s=120)
        assert job.status == c.JOB_STATUS_FAILED
        assert "answered HTTP 503 after the request was sent" in job.error and NOT_TWICE in job.error
        assert [(r["provider"], r["status"]) for r in await settled_submits(sim, since, 0)] == [("runway", 503)]
    finally:
        await client.close()


async def test_with_keys_of_two_organisations_each_task_is_checked_and_cancelled_with_its_own_key(
    gateway_stack: RunningStack, sim: Sim
) -> None:
    info = gateway_stack.info
    client = StackClient(info)
    jobs = 4
    try:
        tenant = await new_tenant(client, credits=jobs * 15 + 100)
        since = last_seq(sim)
        sim.faults(provider="runway", slow_seconds=3, slow_count=jobs)  # several checks each
        started = await asyncio.gather(*(start_job(client, tenant) for _ in range(jobs)))
        finished = await asyncio.gather(*(wait_terminal(client, j.job_id, timeout_s=180) for j in started))
        assert [j.status for j in finished] == [c.JOB_STATUS_SUCCEEDED] * jobs, [j.error for j in finished]

        submitted_with = {r["task_id"]: r["key"] for r in submits_since(sim, since)}
        assert set(submitted_with.values()) == {info["runway_api_key"], SECOND_ORG_KEY}  # both organisations used
        for job in finished:
            checks = sim.requests(provider="runway", op="status", task_id=job.provider_job_id)
            assert len(checks) >= 2 and {r["status"] for r in checks} == {200}, checks
            assert {r["key"] for r in checks} == {submitted_with[job.provider_job_id]}
            assert submission(info, job.job_id)["key_id"] is not None

        await cancel_mid_poll(client, info, sim, "runway", interval_s=1.0)  # only the submitting key reaches it
    finally:
        await client.close()


async def test_a_gateway_stopped_mid_submit_leaves_one_task_and_fails_the_job_clearly(
    gateway_stack: RunningStack, sim: Sim
) -> None:
    info = gateway_stack.info
    client = StackClient(info)
    try:
        tenant = await new_tenant(client)
        since, known = last_seq(sim), runway_tasks(sim)
        sim.faults(provider="runway", submit_delay_seconds=10)
        job = await start_job(client, tenant)
        await submit_in_flight(sim, known)
        pid = gateway_stack.pid("video_gateway")
        os.kill(pid, signal.SIGTERM)  # a rollout: the grace (2 s) ends before the answer (10 s)
        await asyncio.sleep(3)
        if _exists(pid):
            gateway_stack.kill("video_gateway")
        gateway_stack.up("video_gateway")

        job = await wait_terminal(client, job.job_id, timeout_s=240)
        assert job.status == c.JOB_STATUS_FAILED
        assert "submit to runway was interrupted after the request may have been sent" in job.error
        assert NOT_TWICE in job.error
        submits = await settled_submits(sim, since, 10)
        assert [(r["provider"], r["status"]) for r in submits] == [("runway", 200)]
        balance = await client.balance(tenant)
        assert (balance.available, balance.held) == (100, 0)
    finally:
        await client.close()


@pytest.mark.parametrize("answered_in_time", [True, False], ids=["answered", "timed-out"])
async def test_postgresql_down_when_a_submit_ends_its_outcome_is_recorded_once_it_is_back(
    gateway_stack: RunningStack, sim: Sim, answered_in_time: bool
) -> None:
    info = gateway_stack.info
    client = StackClient(info)
    try:
        tenant = await new_tenant(client)
        since, known = last_seq(sim), runway_tasks(sim)
        delay = SUBMIT_TIMEOUT_S - 2 if answered_in_time else SUBMIT_TIMEOUT_S + 4
        sim.faults(provider="runway", submit_delay_seconds=delay)
        job = await start_job(client, tenant)
        await submit_in_flight(sim, known)
        gateway_stack.kill("postgres", signal.SIGQUIT)  # immediate shutdown: the outcome comes while it is down
        await asyncio.sleep(SUBMIT_TIMEOUT_S + 5)
        gateway_stack.up("postgres")

        job = await wait_terminal(client, job.job_id, timeout_s=300)
        submits = await settled_submits(sim, since, delay)
        if answered_in_time:  # the task id was kept until it could be recorded, then polled
            assert job.status == c.JOB_STATUS_SUCCEEDED, job.error
            assert [(r["provider"], r["status"], r["task_id"]) for r in submits] == [
                ("runway", 200, job.provider_job_id)
            ]
            assert submission(info, job.job_id)["state"] == "succeeded"
        else:  # the failure keeps its own reason (not a vaguer "interrupted")
            assert job.status == c.JOB_STATUS_FAILED
            assert "submit to runway timed out after the request was sent" in job.error and NOT_TWICE in job.error
            assert [(r["provider"], r["status"]) for r in submits] == [("runway", 200)]
    finally:
        await client.close()


async def test_a_task_whose_key_was_revoked_fails_naming_the_key_and_no_other_key_is_tried(
    gateway_stack: RunningStack, sim: Sim
) -> None:
    info = gateway_stack.info
    client = StackClient(info)
    try:
        tenant = await new_tenant(client)
        sim.faults(provider="runway", never_finish=True)
        job = await wait_submitted(client, (await start_job(client, tenant)).job_id)
        task_id = job.provider_job_id
        (submit,) = sim.requests(provider="runway", op="submit", task_id=task_id)
        await wait_for(lambda: sim.requests(provider="runway", op="status", task_id=task_id), 30, "the first check")
        sim.keys("runway", revoke=[submit["key"]])

        job = await wait_terminal(client, job.job_id, timeout_s=60)
        assert job.status == c.JOB_STATUS_FAILED
        assert label(submit["key"]) in job.error and "no other key" in job.error, job.error
        checks = sim.requests(provider="runway", op="status", task_id=task_id)
        assert {r["key"] for r in checks} == {submit["key"]}  # never another key (it would get 404)
    finally:
        await client.close()
