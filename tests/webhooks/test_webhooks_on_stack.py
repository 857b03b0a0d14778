"""Signed webhooks on the real stack: retries with every attempt on record, a crash between a job's end and its
delivery, a secret rotated mid-flight, SSRF refusals at creation and at delivery, tenant isolation and a slow
endpoint that delays no one else.

They share the session stack (which runs with WEBHOOKS_ALLOW_PRIVATE, so the loopback receiver is allowed, and a
1-second retry schedule) and one real job, made once for the first two tests.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import psycopg
import pytest
import pytest_asyncio
from standardwebhooks.webhooks import Webhook

from social_video.v1 import common_pb2 as c
from social_video.v1 import webhooks_pb2, webhooks_pb2_grpc
from svd.db.pool import conninfo
from svd.grpc.client import channel
from tests.dispatcher.support import approve, new_post, subject_messages, tenant_client, wait_job
from tests.dispatcher.test_job_api import issue_key
from tests.webhooks.receiver import Receiver, receiver

DELIVERED = webhooks_pb2.WEBHOOK_DELIVERY_STATUS_SUCCEEDED
FAILED = webhooks_pb2.WEBHOOK_DELIVERY_STATUS_FAILED


def hooks(stack: Any, key: str | None = None) -> tuple[grpc.aio.Channel, webhooks_pb2_grpc.WebhooksStub]:
    ch = channel(stack.info["grpc"]["dispatcher"], key or stack.info["admin_api_key"])
    return ch, webhooks_pb2_grpc.WebhooksStub(ch)


async def create(stub: webhooks_pb2_grpc.WebhooksStub, tenant: str, url: str, *types: str) -> Any:
    request = webhooks_pb2.CreateEndpointRequest(tenant_id=tenant, url=url, event_types=list(types))
    return await stub.CreateEndpoint(request)


async def deliveries(stub: webhooks_pb2_grpc.WebhooksStub, endpoint_id: str) -> list[webhooks_pb2.WebhookDelivery]:
    response = await stub.ListDeliveries(webhooks_pb2.ListDeliveriesRequest(endpoint_id=endpoint_id))
    return list(response.deliveries)


async def settled(stub: webhooks_pb2_grpc.WebhooksStub, endpoint_id: str, timeout_s: float = 30.0) -> Any:
    """The endpoint's only delivery once it is no longer pending."""
    async with asyncio.timeout(timeout_s):
        while True:
            found = await deliveries(stub, endpoint_id)
            if found and all(d.status != webhooks_pb2.WEBHOOK_DELIVERY_STATUS_PENDING for d in found):
                assert len(found) == 1, found
                return found[0]
            await asyncio.sleep(0.2)


@dataclass
class FinishedJob:
    receiver: Receiver
    stub: webhooks_pb2_grpc.WebhooksStub
    post: str
    job: Any
    flaky: Any  # answers 500, 500, then 204
    held: Any  # its first request waits until the test releases it
    release: asyncio.Event
    everything: Any  # every event type


@pytest_asyncio.fixture(scope="module")
async def finished_job(stack: Any) -> AsyncIterator[FinishedJob]:
    """A tenant with two endpoints for job.succeeded, and one real job that succeeded."""
    async with receiver() as recv, tenant_client(stack) as (client, tenant):
        ch, stub = hooks(stack)
        recv.route("/flaky", (500, 0.0), (500, 0.0), (204, 0.0))
        release = asyncio.Event()
        recv.route("/held", (204, 0.0)).held = release
        flaky = await create(stub, tenant, recv.url("/flaky"), "job.succeeded")
        held = await create(stub, tenant, recv.url("/held"), "job.succeeded")
        everything = await create(stub, tenant, recv.url("/all"))
        post = new_post()
        await approve(client, tenant, post)
        job = await wait_job(client, (await client.find_job(tenant, post)).job_id, timeout_s=240)
        assert job.status == c.JOB_STATUS_SUCCEEDED, job.error
        try:
            yield FinishedJob(recv, stub, post, job, flaky, held, release, everything)
        finally:
            release.set()
            await ch.close()


async def test_job_succeeded_arrives_on_the_third_attempt_signed_with_what_the_client_needs(
    stack, finished_job
) -> None:
    got = await finished_job.receiver.wait_for("/flaky", 3)
    assert len({r.headers["webhook-id"] for r in got}) == 1  # one id across retries: receivers can deduplicate
    last = got[-1]
    event = Webhook(finished_job.flaky.secret).verify(last.body, last.headers)
    assert event["type"] == "job.succeeded"
    data = event["data"]
    job = finished_job.job
    assert data["job"]["socialPostId"] == finished_job.post
    assert data["job"]["jobId"] == job.job_id
    assert data["job"]["status"] == "JOB_STATUS_SUCCEEDED"
    assert int(data["job"]["creditsConsumed"]) == job.credits_consumed > 0
    assert data["job"]["traceId"] == job.trace_id
    assert data["videoUrl"].startswith("http") and data["posterUrl"].startswith("http")
    assert int(data["sizeBytes"]) > 0
    assert "reservationId" not in data["job"]  # a tenant never sees its hold

    delivery = await settled(finished_job.stub, finished_job.flaky.endpoint.endpoint_id)
    assert delivery.status == DELIVERED
    assert delivery.delivery_id == last.headers["webhook-id"]
    assert [a.http_status for a in delivery.attempts] == [500, 500, 204]
    assert delivery.attempts[0].error == "HTTP 500" and delivery.attempts[0].response_excerpt == "answer 500"
    assert all(a.latency_seconds > 0 for a in delivery.attempts)
    assert json.loads(delivery.payload) == json.loads(last.body)

    # Each attempt is a span in the job's own trace, and the attempts are measured.
    async with asyncio.timeout(15):
        while True:
            traced = "webhook.deliver" in stack.sink.span_names(job.trace_id, "dispatcher")
            measured = {"svd.webhook.attempts", "svd.webhook.delivery.lag"} <= stack.sink.metric_names("dispatcher")
            if traced and measured:
                break
            await asyncio.sleep(0.2)


async def test_an_endpoint_for_every_type_hears_the_whole_life_of_the_job(finished_job) -> None:
    job = finished_job.job
    expected = {"job.queued", "job.running", "job.progress", "job.succeeded", "post.status_changed"}
    async with asyncio.timeout(30):
        while True:
            got = finished_job.receiver.at("/all")
            events = [Webhook(finished_job.everything.secret).verify(r.body, r.headers) for r in got]
            if expected <= {e["type"] for e in events}:
                break
            await asyncio.sleep(0.2)
    for event in events:
        if event["type"].startswith("job."):
            assert event["data"]["job"]["jobId"] == job.job_id
    statuses = {e["data"]["postStatus"] for e in events if e["type"] == "post.status_changed"}
    assert "POST_STATUS_CLIENT_REVIEW" in statuses
    assert len({r.headers["webhook-id"] for r in got}) == len(got)  # one id per event
    progress = [e for e in events if e["type"] == "job.progress"]
    seconds = (job.updated_at.ToDatetime() - job.created_at.ToDatetime()).total_seconds()
    assert len(progress) <= seconds / 5 + 2  # coalesced: at most one per job every 5 s


async def test_a_delivery_cut_by_a_dispatcher_crash_is_sent_once_after_the_restart(stack, finished_job) -> None:
    first = (await finished_job.receiver.wait_for("/held", 1))[0]  # the attempt is in flight, unanswered
    stack.kill("dispatcher")
    finished_job.release.set()  # its answer goes nowhere: the attempt was never recorded
    await asyncio.to_thread(stack.up, "dispatcher")
    ch, stub = hooks(stack)
    try:
        got = await finished_job.receiver.wait_for("/held", 2, timeout_s=120)  # once the lease ends
        assert got[1].headers["webhook-id"] == first.headers["webhook-id"]
        assert got[1].body == first.body
        delivery = await settled(stub, finished_job.held.endpoint.endpoint_id)
        assert delivery.status == DELIVERED
        assert [a.http_status for a in delivery.attempts] == [204]
        await asyncio.sleep(2.0)
        assert len(finished_job.receiver.at("/held")) == 2  # sent once after the restart, never again
    finally:
        await ch.close()


async def test_a_secret_rotated_mid_flight_leaves_both_secrets_verifying(stack) -> None:
    ch, stub = hooks(stack)
    async with receiver() as recv:
        try:
            release = asyncio.Event()
            route = recv.route("/rotating", (500, 0.0), (204, 0.0))
            route.held = release
            endpoint = await create(stub, "t-rotate", recv.url("/rotating"))
            await stub.SendTest(webhooks_pb2.SendTestRequest(endpoint_id=endpoint.endpoint.endpoint_id))
            first = (await recv.wait_for("/rotating", 1))[0]
            rotated = await stub.RotateSecret(
                webhooks_pb2.RotateSecretRequest(endpoint_id=endpoint.endpoint.endpoint_id)
            )
            assert rotated.secret != endpoint.secret and rotated.endpoint.HasField("previous_secret_expires_at")
            route.held = None
            release.set()
            second = (await recv.wait_for("/rotating", 2))[1]
            Webhook(endpoint.secret).verify(first.body, first.headers)
            for secret in (endpoint.secret, rotated.secret):  # a receiver holding either one verifies
                Webhook(secret).verify(second.body, second.headers)
            assert len(second.headers["webhook-signature"].split(" ")) == 2
            with pytest.raises(Exception, match="No matching signature"):
                Webhook(rotated.secret).verify(first.body, first.headers)  # before the rotation: the old one only

            # Redeliver sends the same event again, under the same webhook-id, with the attempts so far on record.
            delivery = await settled(stub, endpoint.endpoint.endpoint_id)
            again = await stub.Redeliver(webhooks_pb2.RedeliverRequest(delivery_id=delivery.delivery_id))
            assert again.delivery.status == webhooks_pb2.WEBHOOK_DELIVERY_STATUS_PENDING
            third = (await recv.wait_for("/rotating", 3))[2]
            assert third.headers["webhook-id"] == first.headers["webhook-id"] and third.body == first.body
            assert [a.http_status for a in (await settled(stub, endpoint.endpoint.endpoint_id)).attempts] == [
                500,
                204,
                204,
            ]
        finally:
            await ch.close()


async def test_metadata_and_private_addresses_are_refused_at_creation_and_at_delivery(stack) -> None:
    ch, stub = hooks(stack)
    async with receiver() as recv:
        try:
            for url in ("https://169.254.169.254/latest/meta-data", "https://[fe80::1]/hook", "ftp://127.0.0.1/"):
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await create(stub, "t-ssrf", url)
                assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            # An endpoint whose address turned bad after it was created (DNS changed, or an old row) is refused at
            # the connection, and not retried.
            endpoint = await create(stub, "t-ssrf", recv.url("/fine"))
            endpoint_id = endpoint.endpoint.endpoint_id
            async with await psycopg.AsyncConnection.connect(conninfo(stack.info["database_url"])) as db:
                await db.execute(
                    "UPDATE dispatcher.webhook_endpoints SET url = 'http://169.254.169.254/latest/meta-data' "
                    "WHERE endpoint_id = %s",
                    (endpoint_id,),
                )
                await db.commit()
            await stub.SendTest(webhooks_pb2.SendTestRequest(endpoint_id=endpoint_id))
            delivery = await settled(stub, endpoint_id)
            assert delivery.status == FAILED
            assert len(delivery.attempts) == 1 and delivery.attempts[0].http_status == 0
            assert "link-local" in delivery.attempts[0].error
            assert recv.received == []
        finally:
            await ch.close()


async def test_tenants_cannot_touch_each_others_endpoints_and_a_slow_one_delays_no_one_else(stack) -> None:
    async with (
        receiver() as recv,
        tenant_client(stack, credits=0) as (_, tenant_a),
        tenant_client(stack, credits=0) as (
            _,
            tenant_b,
        ),
    ):
        _, key_a = issue_key(stack, "--tenant", tenant_a)
        _, key_b = issue_key(stack, "--tenant", tenant_b)
        ch_a, as_a = hooks(stack, key_a)
        ch_b, as_b = hooks(stack, key_b)
        try:
            recv.route("/slow", (204, 10.0))
            slow = await create(as_a, tenant_a, recv.url("/slow"))
            fast = await create(as_b, tenant_b, recv.url("/fast"))
            slow_id = slow.endpoint.endpoint_id
            for call in (
                as_b.UpdateEndpoint(webhooks_pb2.UpdateEndpointRequest(endpoint_id=slow_id, enabled=False)),
                as_b.DeleteEndpoint(webhooks_pb2.DeleteEndpointRequest(endpoint_id=slow_id)),
                as_b.RotateSecret(webhooks_pb2.RotateSecretRequest(endpoint_id=slow_id)),
                as_b.SendTest(webhooks_pb2.SendTestRequest(endpoint_id=slow_id)),
                as_b.ListDeliveries(webhooks_pb2.ListDeliveriesRequest(endpoint_id=slow_id)),
                as_b.ListEndpoints(webhooks_pb2.ListEndpointsRequest(tenant_id=tenant_a)),
                as_b.CreateEndpoint(webhooks_pb2.CreateEndpointRequest(tenant_id=tenant_a, url=recv.url("/x"))),
            ):
                with pytest.raises(grpc.aio.AioRpcError) as denied:
                    await call
                assert denied.value.code() == grpc.StatusCode.NOT_FOUND
            listed = await as_b.ListEndpoints(webhooks_pb2.ListEndpointsRequest())
            assert [e.endpoint_id for e in listed.endpoints] == [fast.endpoint.endpoint_id]
            assert (await as_a.ListEndpoints(webhooks_pb2.ListEndpointsRequest())).endpoints[0].enabled

            for _ in range(8):  # twice the endpoint's concurrency: tenant A's deliveries queue behind its own
                await as_a.SendTest(webhooks_pb2.SendTestRequest(endpoint_id=slow_id))
            await recv.wait_for("/slow", 4)
            sent = asyncio.get_running_loop().time()
            await as_b.SendTest(webhooks_pb2.SendTestRequest(endpoint_id=fast.endpoint.endpoint_id))
            arrived = (await recv.wait_for("/fast", 1, timeout_s=10))[0].at
            assert arrived - sent < 2.0, f"tenant B waited {arrived - sent:.1f} s behind tenant A's slow endpoint"
            assert len(recv.at("/slow")) == 4  # A's endpoint never had more than its 4 attempts in flight
        finally:
            await ch_a.close()
            await ch_b.close()


async def test_an_endpoint_failing_for_days_is_disabled_and_its_tenant_told(stack) -> None:
    ch, stub = hooks(stack)
    async with receiver() as recv:
        try:
            release = asyncio.Event()
            recv.route("/down", (503, 0.0)).held = release  # its delivery stays in flight: still being tried
            endpoint = await create(stub, "t-failing", recv.url("/down"))
            endpoint_id = endpoint.endpoint.endpoint_id
            await stub.SendTest(webhooks_pb2.SendTestRequest(endpoint_id=endpoint_id))
            await recv.wait_for("/down", 1)
            async with await psycopg.AsyncConnection.connect(conninfo(stack.info["database_url"])) as db:
                await db.execute(  # as if every attempt had failed for six days
                    "UPDATE dispatcher.webhook_endpoints SET failing_since = now() - interval '6 days' "
                    "WHERE endpoint_id = %s",
                    (endpoint_id,),
                )
                await db.commit()
            async with asyncio.timeout(30):
                while True:
                    listed = await stub.ListEndpoints(webhooks_pb2.ListEndpointsRequest(tenant_id="t-failing"))
                    if not listed.endpoints[0].enabled:
                        break
                    await asyncio.sleep(0.5)
            assert listed.endpoints[0].disabled_reason.startswith("disabled: every delivery failed for 5 days")
            notices = [
                json.loads(m.data)
                for m in await subject_messages(stack.info["nats_url"], "notify.client", timeout_s=2.0)
            ]
            told = [n for n in notices if n.get("tenantId") == "t-failing"]
            assert [n["kind"] for n in told] == ["webhook_endpoint_disabled"]
            assert endpoint_id in told[0]["message"]
            enabled = await stub.UpdateEndpoint(
                webhooks_pb2.UpdateEndpointRequest(endpoint_id=endpoint_id, enabled=True)
            )
            assert enabled.endpoint.enabled and not enabled.endpoint.HasField("failing_since")
        finally:
            release.set()
            await ch.close()


async def test_deliveries_past_their_retention_are_pruned_with_their_attempts(stack) -> None:
    ch, stub = hooks(stack)
    async with receiver() as recv:
        try:
            recv.route("/kept", (204, 0.0))
            endpoint = await create(stub, "t-retention", recv.url("/kept"))
            endpoint_id = endpoint.endpoint.endpoint_id
            for _ in range(2):
                await stub.SendTest(webhooks_pb2.SendTestRequest(endpoint_id=endpoint_id))
            await recv.wait_for("/kept", 2)
            async with asyncio.timeout(30):
                while True:
                    sent = [d for d in await deliveries(stub, endpoint_id) if d.status == DELIVERED]
                    if len(sent) == 2:
                        break
                    await asyncio.sleep(0.2)
            old, recent = sent
            async with await psycopg.AsyncConnection.connect(conninfo(stack.info["database_url"])) as db:
                await db.execute(  # as if it had ended 31 days ago (retention: 30)
                    "UPDATE dispatcher.webhook_deliveries SET updated_at = now() - interval '31 days' "
                    "WHERE delivery_id = %s",
                    (old.delivery_id,),
                )
                await db.commit()
                async with asyncio.timeout(30):  # the session stack prunes every second
                    while True:
                        if old.delivery_id not in {d.delivery_id for d in await deliveries(stub, endpoint_id)}:
                            break
                        await asyncio.sleep(0.5)
                left = await db.execute(
                    "SELECT delivery_id FROM dispatcher.webhook_attempts WHERE delivery_id = ANY(%s)",
                    ([old.delivery_id, recent.delivery_id],),
                )
                assert [row[0] for row in await left.fetchall()] == [recent.delivery_id]
            assert [d.delivery_id for d in await deliveries(stub, endpoint_id)] == [recent.delivery_id]
        finally:
            await ch.close()
