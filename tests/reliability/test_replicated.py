"""The replicated stack (`svd up --nats-cluster 3 --replicas 2`): 20 jobs over 4 tenants in flight when one NATS node
(the leader of the VIDEO stream) and one replica of each of the five services are killed -9 and left dead. Every job
succeeds exactly once (one provider task, one video, one consume), the credits are exact and nothing stays held;
every stream reports 3 replicas.

What makes it work: streams at 3 replicas (a 3-node cluster keeps serving with 2), services that list every node in
`NATS_URL` and fail over, durable consumers shared by the replicas (a dead replica's unacknowledged message is
redelivered to the live one after its ack wait), and gRPC clients that balance over the replicas and retry a call a
dead one refused (`svd.grpc.client`). Leases and heartbeats are shortened so a dead worker's run is taken over in
seconds; the figures are printed (run with `-s`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import nats
import pytest

from svd.bus.topology import STREAMS, VIDEO
from svd.ids import short_id
from svd_stack.client import StackClient
from tests.conftest import RunningStack, running_stack
from tests.dispatcher.support import approve, new_post
from tests.reliability.conftest import SHORT_BUDGETS
from tests.reliability.support import (
    RUNWAY_5S,
    Timeline,
    assert_one_video,
    consumed_for,
    finished,
    job_of,
    status_name,
    step_name,
    take_down,
)
from tests.reliability.test_chaos import _provider_tasks

pytestmark = [pytest.mark.timeout(1500)]

TENANTS = 4
JOBS = 20
GRANT = 100
SERVICES = ("billing", "media_store", "dispatcher", "still_frame", "video_gateway")
# A killed worker's run is taken over once its lease lapses (the defaults are minutes, for real providers).
FAST_TAKEOVER = {
    "STILL_FRAME_HEARTBEAT_S": "3",
    "STILL_FRAME_CLAIM_LEASE_S": "10",
    "STILL_FRAME_RETRY_S": "2",
    "HEARTBEAT_S": "3",
    "LEASE_TTL_S": "10",
}
# Redeliveries wait out a dead consumer's ack wait (up to 60 s), then the rest of the pipeline.
RECOVERY_TIMEOUT_S = 600.0


@pytest.fixture(scope="module")
def replicated_stack() -> Iterator[RunningStack]:
    started = time.monotonic()
    with running_stack(None, nats_cluster=3, replicas=2, **SHORT_BUDGETS, **FAST_TAKEOVER) as running:
        print(f"replicated stack up in {time.monotonic() - started:.0f} s", flush=True)
        yield running


async def _streams(stack: RunningStack) -> dict[str, tuple[int, str | None, int]]:
    """Per stream: configured replicas, current leader, peers besides the leader (as the cluster reports them)."""
    nc = await nats.connect(stack.info["nats_urls"], connect_timeout=2)
    try:
        js = nc.jetstream()
        found = {}
        for spec in STREAMS:
            info = await js.stream_info(spec.name)
            cluster = info.cluster
            peers = len(cluster.replicas or []) if cluster else 0
            found[spec.name] = (info.config.num_replicas or 1, cluster.leader if cluster else None, peers)
        return found
    finally:
        await nc.close()


async def test_a_nats_node_and_a_replica_of_each_service_killed_every_job_succeeds_once(replicated_stack) -> None:
    stack = replicated_stack
    streams = await _streams(stack)
    assert {name: replicas for name, (replicas, _, peers) in streams.items()} == {s.name: 3 for s in STREAMS}
    assert all(leader and peers == 2 for _, leader, peers in streams.values()), streams
    client = StackClient(stack.info)
    try:
        earlier_tasks = await _provider_tasks(stack)
        tenants = [f"t-{short_id(8)}" for _ in range(TENANTS)]
        for tenant in tenants:
            await client.put_brand(tenant)
            await client.grant(tenant, GRANT, f"grant-{tenant}")
        posts = [(tenants[i % TENANTS], new_post()) for i in range(JOBS)]
        timeline = Timeline()
        for tenant, post in posts:
            await approve(client, tenant, post)
        in_flight = [await job_of(client, tenant, post) for tenant, post in posts]
        timeline.note(f"{JOBS} jobs in flight at {sorted(step_name(job) for job in in_flight)}")

        leader = streams[VIDEO][1]
        assert leader is not None
        victims = [leader, *(stack.replicas(service)[0] for service in SERVICES)]
        await asyncio.gather(*(asyncio.to_thread(take_down, stack, victim) for victim in victims))
        timeline.note(f"killed -9, not restarted: {', '.join(victims)}")

        jobs = [await finished(client, job.job_id, RECOVERY_TIMEOUT_S) for job in in_flight]
        timeline.note("every job ended")
        outcomes = sorted(f"{status_name(job)}@{step_name(job)}: {job.error}" for job in jobs)
        assert all(status_name(job) == "succeeded" for job in jobs), outcomes

        for job in jobs:
            await assert_one_video(client, job)
        for tenant in tenants:
            consumed = await consumed_for(client, tenant)
            own = {job.job_id for job in jobs if job.tenant_id == tenant}
            assert set(consumed) == own, f"{tenant}: consumes for {sorted(consumed)}, jobs {sorted(own)}"
            assert all(amounts == [RUNWAY_5S] for amounts in consumed.values()), consumed
            balance = await client.balance(tenant)
            assert (balance.balance, balance.held) == (GRANT - RUNWAY_5S * len(own), 0), balance
        tasks = sorted((await _provider_tasks(stack)) - earlier_tasks)
        assert tasks == sorted(job.provider_job_id for job in jobs)  # one provider task per job

        after = await _streams(stack)
        assert {name: replicas for name, (replicas, _, _) in after.items()} == {s.name: 3 for s in STREAMS}
        assert all(found_leader and found_leader != leader for _, found_leader, _ in after.values()), after
        print(f"replicated: {JOBS} jobs over {TENANTS} tenants, {len(victims)} kills; {timeline.entries}", flush=True)
    finally:
        await client.close()
