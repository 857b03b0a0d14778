"""Key pool and provider selection on the real stack: submits rotate on 429 and 401, failover to Kling, and a clear
failure when no valid key is left. Status checks stay with the key that submitted their task (they never rotate).

The gateway here has a pool of four Runway keys (the stack's own plus three) and three fal keys; the simulator
accepts them all until a test revokes some. Submits lease the least recently used key, so a key is asked within a
few consecutive jobs. Tests run in file order: the last one revokes every key.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from social_video.v1 import common_pb2 as c
from social_video.v1 import jobs_pb2, pipeline_pb2
from svd_stack.client import StackClient
from tests.conftest import RunningStack, running_stack
from tests.gateway.helpers import (
    Sim,
    db,
    keys,
    new_tenant,
    pipeline_messages,
    start_job,
    submission,
    usage,
    wait_submitted,
    wait_terminal,
)
from video_gateway.keypool import label

RUNWAY_POOL = ["rk-pool-key-aaaa1111", "rk-pool-key-bbbb2222", "rk-pool-key-cccc3333"]
FAL_POOL = ["fk-pool-key-dddd4444", "fk-pool-key-eeee5555"]


@pytest.fixture(scope="module")
def gateway_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with running_stack(
        tmp_path_factory.mktemp("svd-keys"),
        SVD_SIM_PROVIDERS="runway,kling",
        RUNWAY_API_KEYS=",".join(RUNWAY_POOL),
        FAL_API_KEYS=",".join(FAL_POOL),
        VIDEO_POLL_INITIAL_DELAY_S="1",
        VIDEO_POLL_INTERVAL_S="1",
        VIDEO_POLL_MAX_ATTEMPTS="60",
    ) as running:
        yield running


def _after(requests: list[dict], seq: int) -> list[dict]:
    return [r for r in requests if r["seq"] > seq]


async def _jobs_until_asked(client: StackClient, tenant: str, sim: Sim, key: str, since: int) -> list[jobs_pb2.Job]:
    """Run jobs one after another until a submit was made with `key` (least recently used first: at most one per
    key of the pool); each must succeed."""
    done: list[jobs_pb2.Job] = []
    for _ in range(len(RUNWAY_POOL) + 2):
        job = await wait_terminal(client, (await start_job(client, tenant)).job_id, timeout_s=90)
        assert job.status == c.JOB_STATUS_SUCCEEDED, job.error
        done.append(job)
        if any(r["key"] == key for r in _after(sim.requests(provider="runway", op="submit"), since)):
            return done
    raise AssertionError(f"no submit was made with key {label(key)}")


async def test_a_rate_limited_key_cools_down_and_the_submit_moves_to_another_key(
    gateway_stack: RunningStack, sim: Sim
) -> None:
    info = gateway_stack.info
    client = StackClient(info)
    limited = RUNWAY_POOL[0]
    try:
        tenant = await new_tenant(client, credits=200)
        since = max((r["seq"] for r in sim.requests()), default=0)
        sim.faults(provider="runway", key=limited, submit_status=429, retry_after=30, submit_count=1)
        jobs = await _jobs_until_asked(client, tenant, sim, limited, since)

        submits = _after(sim.requests(provider="runway", op="submit"), since)
        (throttled,) = [r for r in submits if r["status"] == 429]
        assert throttled["key"] == limited and throttled["retry_after"] == "30"
        retry = _after(submits, throttled["seq"])[0]  # the same submit, at once, with the next key
        assert retry["key"] != limited and retry["status"] == 200
        assert retry["time"] - throttled["time"] < 1.0
        assert all(r["key"] != limited for r in _after(submits, throttled["seq"]))  # cooling down
        # Least recently used first: consecutive submits spread over the pool.
        spread = [r["key"] for r in submits if r["seq"] <= throttled["seq"]]
        assert len(set(spread)) == len(spread)

        row = keys(info, "runway")[label(limited)]
        # Cooling down for the Retry-After from the refusal (read from its time, not from now: the jobs after it may
        # outlast 30 s on a busy machine).
        throttled_at = datetime.fromtimestamp(throttled["time"], UTC)
        assert row["status"] == "valid"
        assert 25 <= (row["cooldown_until"] - throttled_at).total_seconds() <= 35, (row["cooldown_until"], throttled_at)
        assert b"rk-pool-key" not in bytes(row["ciphertext"])  # encrypted at rest
        outcomes = [u["outcome"] for u in usage(info, row["id"])]
        assert "rate_limited" in outcomes
        for job in jobs:  # every check with the key that submitted the task
            checks = sim.requests(provider="runway", op="status", task_id=job.provider_job_id)
            (submit,) = [r for r in submits if r["task_id"] == job.provider_job_id]
            assert checks and {r["key"] for r in checks} == {submit["key"]}
    finally:
        await client.close()


async def test_a_rate_limited_check_waits_and_asks_again_with_the_same_key(
    gateway_stack: RunningStack, sim: Sim
) -> None:
    client = StackClient(gateway_stack.info)
    try:
        tenant = await new_tenant(client)
        sim.faults(provider="runway", slow_seconds=8, slow_count=1)
        job = await wait_submitted(client, (await start_job(client, tenant)).job_id)
        sim.faults(task_id=job.provider_job_id, status_error=429, retry_after=3, status_error_count=1)
        job = await wait_terminal(client, job.job_id, timeout_s=90)
        assert job.status == c.JOB_STATUS_SUCCEEDED, job.error

        checks = sim.requests(provider="runway", op="status", task_id=job.provider_job_id)
        (throttled,) = [r for r in checks if r["status"] == 429]
        after = _after(checks, throttled["seq"])
        assert after and after[0]["time"] - throttled["time"] >= 2.5  # Retry-After honoured (not the 1 s tick)
        assert len({r["key"] for r in checks}) == 1  # no other key: it could not see the task
    finally:
        await client.close()


async def test_a_key_answered_401_is_invalidated_and_the_submit_retried_with_another(
    gateway_stack: RunningStack, sim: Sim
) -> None:
    info = gateway_stack.info
    client = StackClient(info)
    revoked = RUNWAY_POOL[1]
    try:
        tenant = await new_tenant(client, credits=200)
        since = max((r["seq"] for r in sim.requests()), default=0)
        sim.keys("runway", revoke=[revoked])
        await _jobs_until_asked(client, tenant, sim, revoked, since)

        runway = [r for r in sim.requests(provider="runway") if r["seq"] > since]
        with_revoked = [r for r in runway if r["key"] == revoked]
        assert [(r["op"], r["status"]) for r in with_revoked] == [("submit", 401)]  # once, then never again
        retry = _after(runway, with_revoked[0]["seq"])[0]
        assert retry["key"] != revoked and retry["op"] == "submit" and retry["status"] == 200
        row = keys(info, "runway")[label(revoked)]
        assert row["status"] == "invalid" and "401" in row["invalid_reason"]
        assert [u["outcome"] for u in usage(info, row["id"])][-1] == "auth"
    finally:
        await client.close()


async def test_runway_refusing_submits_fails_over_to_kling_which_is_billed(
    gateway_stack: RunningStack, sim: Sim
) -> None:
    info = gateway_stack.info
    client = StackClient(info)
    try:
        tenant = await new_tenant(client)
        since = max((r["seq"] for r in sim.requests()), default=0)
        # Runway's daily cap on every key: each refusal cools its key down, and no key frees up in time.
        sim.faults(provider="runway", submit_status=429, submit_count=100, retry_after=60)
        job = await wait_terminal(client, (await start_job(client, tenant)).job_id, timeout_s=120)
        assert job.status == c.JOB_STATUS_SUCCEEDED, job.error
        assert job.provider == c.VIDEO_PROVIDER_KLING
        assert submission(info, job.job_id)["provider"] == "kling"
        submits = [r for r in sim.requests(op="submit") if r["seq"] > since]
        runway = [r for r in submits if r["provider"] == "runway"]
        valid = sorted(lbl for lbl, row in keys(info, "runway").items() if row["status"] == "valid")
        assert [r["status"] for r in runway] == [429] * len(valid)  # each valid key once (then cooling), then failover
        assert sorted(label(r["key"]) for r in runway) == valid
        assert [r["status"] for r in submits if r["provider"] == "fal"] == [200]
        announced = [
            m
            for m in await pipeline_messages(info, "video.submitted", pipeline_pb2.VideoSubmitted)
            if m.ref.job_id == job.job_id
        ]
        assert [m.provider for m in announced] == [c.VIDEO_PROVIDER_KLING]
        balance = await client.balance(tenant)
        assert (balance.available, balance.held) == (100 - 12, 0)  # Kling's 5 s rate, not Runway's
    finally:
        with db(info) as conn:  # the cap is lifted: later tests start with every key free
            conn.execute("update video_gateway.provider_keys set cooldown_until = null")
        await client.close()


async def test_with_no_valid_key_left_the_job_fails_clearly(gateway_stack: RunningStack, sim: Sim) -> None:
    info = gateway_stack.info
    client = StackClient(info)
    try:
        tenant = await new_tenant(client)
        sim.keys("runway", revoke=[info["runway_api_key"], *RUNWAY_POOL])
        sim.keys("fal", revoke=[info["fal_api_key"], *FAL_POOL])
        job = await wait_terminal(client, (await start_job(client, tenant)).job_id, timeout_s=60)
        assert job.status == c.JOB_STATUS_FAILED
        assert "no valid runway API key left" in job.error and "no valid kling API key left" in job.error, job.error
        assert all(row["status"] == "invalid" for row in keys(info, "runway").values())
        assert all(row["status"] == "invalid" for row in keys(info, "kling").values())
        balance = await client.balance(tenant)
        assert (balance.available, balance.held) == (100, 0)
    finally:
        await client.close()
