"""No event is ever lost or doubled: a flood of malformed upstream messages does not stop the consumer, and two
dispatcher replicas racing on the same events make one job per post."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from google.protobuf import json_format

from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from svd_stack.client import copy_approved
from tests.dispatcher.support import (
    approve,
    events_of,
    jobs_of,
    new_event,
    new_post,
    subject_messages,
    tenant_client,
    wait_job,
)
from tests.processes import free_port

MALFORMED = 200


def _malformed(i: int, tenant: str) -> tuple[bytes, dict[str, str]]:
    """A rotation of what a buggy upstream sends: broken JSON, unknown enums, missing ids, oversized, binary junk."""
    json_headers = {"content-type": "application/json", "Nats-Msg-Id": f"bad-{tenant}-{i}", "x-batch": tenant}
    kind = i % 6
    if kind == 0:
        return b'{"eventId": "x", "tenantId": ', json_headers
    if kind == 1:
        return f'{{"eventId": "e{i}", "tenantId": "{tenant}", "platform": "PLATFORM_MARS"}}'.encode(), json_headers
    if kind == 2:
        event = copy_approved(tenant, new_post(), "")
        return json_format.MessageToJson(event).encode(), json_headers
    if kind == 3:
        event = copy_approved(tenant, new_post(), f"e{i}")
        event.copy.body = "x" * 6_000
        return json_format.MessageToJson(event).encode(), json_headers
    if kind == 4:
        event = copy_approved(tenant, new_post(), f"e{i}")
        event.copy.body = "x" * 70_000
        return json_format.MessageToJson(event).encode(), json_headers
    return os.urandom(64), {**json_headers, "content-type": "application/protobuf"}


async def test_two_hundred_malformed_messages_then_a_valid_one_that_completes(stack) -> None:
    async with tenant_client(stack) as (client, tenant):
        nc = await nats.connect(stack.info["nats_url"])
        try:
            js = nc.jetstream()
            for i in range(MALFORMED):
                payload, headers = _malformed(i, tenant)
                await js.publish("social.post.copy_approved", payload, headers=headers)
        finally:
            await nc.drain()
        post = new_post()
        await approve(client, tenant, post)
        job = await wait_job(client, (await client.find_job(tenant, post, timeout_s=120)).job_id, timeout_s=180)
        assert job.status == c.JOB_STATUS_SUCCEEDED, job.error

        letters = [
            pipeline_pb2.DeadLetter.FromString(m.data)
            for m in await subject_messages(stack.info["nats_url"], "dlq.social.post.copy_approved", 2.0)
        ]
        ours = [d for d in letters if d.headers.get("x-batch") == tenant]
        assert len(ours) == MALFORMED, f"{len(ours)} of {MALFORMED} malformed messages dead-lettered"
        reasons = " | ".join(d.reason for d in ours)
        for expected in ("JSON", "event_id is required", "exceeds the 65536-byte limit", "copy.body is longer"):
            assert expected in reasons, expected
        assert all(d.reason for d in ours)


@pytest.fixture
def second_dispatcher(stack) -> Iterator[int]:
    """Another dispatcher replica with the first one's configuration (its own gRPC port), stopped by its pid."""
    first = stack.pid("dispatcher")
    environ = dict(
        item.split("=", 1) for item in Path(f"/proc/{first}/environ").read_bytes().decode().split("\0") if "=" in item
    )
    environ["GRPC_LISTEN"] = f"127.0.0.1:{free_port()}"
    log = open(stack.home / "logs" / "dispatcher-replica.log", "ab")
    replica = subprocess.Popen([sys.executable, "-m", "dispatcher"], env=environ, stdout=log, stderr=log)
    try:
        yield replica.pid
    finally:
        replica.send_signal(signal.SIGTERM)
        try:
            replica.wait(timeout=30)
        except subprocess.TimeoutExpired:
            replica.kill()
            replica.wait()
        log.close()


async def test_two_replicas_racing_on_the_same_events_make_one_job_per_post(stack, second_dispatcher: int) -> None:
    await asyncio.sleep(3)  # the replica binds to the durable consumers
    async with tenant_client(stack, credits=1000) as (client, tenant):
        posts = [new_post() for _ in range(6)]
        nc = await nats.connect(stack.info["nats_url"])
        try:
            js = nc.jetstream()
            for post in posts:
                event_id = new_event()
                payload = json_format.MessageToJson(copy_approved(tenant, post, event_id)).encode()
                # Each approval arrives three times (a redelivering router) plus a second approval of the same post.
                for copy in range(3):
                    await js.publish(
                        "social.post.copy_approved",
                        payload,
                        headers={"content-type": "application/json", "Nats-Msg-Id": f"{event_id}-{copy}"},
                    )
                second = copy_approved(tenant, post, new_event())
                await js.publish(
                    "social.post.copy_approved",
                    json_format.MessageToJson(second).encode(),
                    headers={"content-type": "application/json"},
                )
        finally:
            await nc.drain()
        for post in posts:
            job = await wait_job(client, (await client.find_job(tenant, post)).job_id, timeout_s=240)
            assert job.status == c.JOB_STATUS_SUCCEEDED, job.error
        await asyncio.sleep(2)
        for post in posts:
            jobs = await jobs_of(client, tenant, post)
            assert len(jobs) == 1, f"post {post} has {len(jobs)} jobs"
            reserved = [e for e in await events_of(client, jobs[0].job_id) if e.message.startswith("reserved ")]
            assert len(reserved) == 1
        consumed = 0
        for post in posts:
            consumed += (await jobs_of(client, tenant, post))[0].credits_consumed
        balance = await client.balance(tenant)
        assert (balance.balance, balance.held) == (1000 - consumed, 0)
