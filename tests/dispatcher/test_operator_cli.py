"""Operators at the terminal (through the `svd` entry point, against the dev stack): `svd jobs` prints what the job API
says, `svd dlq` lists, shows, replays and purges dead letters (and a letter replayed once its cause is fixed is
processed), and the `Operations` API refuses tenant keys."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys

import grpc
import pytest

from social_video.v1 import jobs_pb2, operations_pb2, operations_pb2_grpc, pipeline_pb2
from svd.bus import codec
from svd.grpc.client import channel
from tests.conftest import RunningStack
from tests.dispatcher.support import Simulator, approve, new_post, subject_messages, tenant_client
from tests.dispatcher.test_job_api import issue_key
from tests.reliability.support import eventually


async def svd(stack: RunningStack, *args: str, code: int = 0) -> str:
    """Run `svd ARGS --home HOME` as an operator would; its output (stdout and stderr) once it exits with `code`."""
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "svd_stack", *args, "--home", str(stack.home)],
        capture_output=True,
        text=True,
        timeout=180,
        env={**stack.env, "COLUMNS": "250"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == code, f"svd {' '.join(args)} exited {result.returncode}:\n{output}"
    return output


async def test_svd_jobs_list_watch_events_and_cancel_print_what_the_api_says(stack: RunningStack) -> None:
    async with tenant_client(stack) as (client, tenant):
        post = new_post()
        # A render slow enough for the watcher (a process of its own, seconds to start on a busy machine) to attach
        # while the job is still polling.
        Simulator(stack).fault(provider="runway", slow_seconds=45, slow_count=1)
        await approve(client, tenant, post)
        job = await client.find_job(tenant, post)

        watched = await svd(stack, "jobs", "watch", job.job_id)
        assert f"job {job.job_id} succeeded" in watched
        for step in ("polling", "storing", "done"):
            assert step in watched, watched  # the steps as they were logged (the first ones may pass before it starts)
        assert "100%" in watched

        listed = await svd(stack, "jobs", "list", "--tenant", tenant, "--status", "succeeded", "--since", "1h")
        assert job.job_id in listed and post in listed and "succeeded" in listed
        none = await svd(stack, "jobs", "list", "--tenant", tenant, "--status", "failed")
        assert job.job_id not in none

        logged = await svd(stack, "jobs", "events", job.job_id)
        assert "job created" in logged and "reserved 15 credits" in logged

        refused = await svd(stack, "jobs", "cancel", job.job_id, code=1)
        assert "FAILED_PRECONDITION" in refused and "already succeeded" in refused

        # A tenant key sees its own jobs only: another tenant's job is not found.
        _, other_key = issue_key(stack, "--tenant", f"{tenant}-other")
        hidden = await svd(stack, "jobs", "events", job.job_id, "--api-key", other_key, code=1)
        assert "NOT_FOUND" in hidden


async def test_svd_dlq_lists_shows_replays_and_purges_dead_letters(stack: RunningStack) -> None:
    async with tenant_client(stack) as (client, tenant):
        # An approval whose post id the object keys cannot hold is dead-lettered at the door.
        event_id = await approve(client, tenant, "bad post")

        request = operations_pb2.ListDeadLettersRequest(subject="social.post.copy_approved", limit=200)

        async def letters_of_tenant(count: int) -> list[operations_pb2.DeadLetterSummary] | None:
            # Every page: the session stack collects letters of this subject from other tests, oldest first.
            found: list[operations_pb2.DeadLetterSummary] = []
            page = request
            while True:
                answer = await client.operations.ListDeadLetters(page)
                found += [x for x in answer.letters if x.tenant_id == tenant]
                if not answer.next_page_token:
                    return found if len(found) >= count else None
                page = operations_pb2.ListDeadLettersRequest(
                    subject=request.subject, limit=request.limit, page_token=answer.next_page_token
                )

        await eventually(lambda: letters_of_tenant(1), 120, "the dead letter")
        out = await svd(stack, "dlq", "list", "--subject", "social.post.copy_approved", "--since", "10m")
        row = next(line for line in out.splitlines() if tenant in line)
        letter_id = re.search(r"(\d+)", row)
        assert letter_id and "social_post_id" in row and "not a valid id" in row, row
        letter = letter_id.group(1)

        shown = await svd(stack, "dlq", "show", letter)
        assert "dispatcher-copy-approved" in shown and event_id in shown and '"socialPostId": "bad post"' in shown

        replayed = await svd(stack, "dlq", "replay", letter, "--request-id", f"replay-{event_id}")
        assert f"replayed {letter} to social.post.copy_approved" in replayed
        again = await svd(stack, "dlq", "replay", letter, "--request-id", f"replay-{event_id}")
        assert "already replayed by this request" in again

        # The replay was handled like the original (the id is still bad): a second letter, and the first one
        # records who replayed it.
        await eventually(lambda: letters_of_tenant(2), 120, "the replayed approval dead-lettered again")
        shown = await svd(stack, "dlq", "show", letter)
        assert len(re.findall(r"^replayed .* by key config:\w+ as replay:", shown, re.MULTILINE)) == 1, shown

        purged = await svd(stack, "dlq", "purge", "--before", "0s", "--subject", "social.post.copy_approved")
        assert re.search(r"purged [1-9]\d* dead letters", purged), purged
        after = await svd(stack, "dlq", "list", "--subject", "social.post.copy_approved")
        assert tenant not in after
        await svd(stack, "dlq", "show", letter, code=1)


async def test_a_dead_letter_replayed_once_its_cause_is_fixed_is_processed(stack: RunningStack, sim: Simulator) -> None:
    sim.fault(never_finish=True, never_finish_count=1)
    async with tenant_client(stack) as (client, tenant):
        post = new_post()
        await approve(client, tenant, post)

        async def submitted() -> str | None:
            return (await client.find_job(tenant, post)).provider_job_id or None

        task_id = await eventually(submitted, 120, "the provider task")
        job = await client.find_job(tenant, post)
        # The provider refuses the cancel (400): the gateway cannot stop the task, so the `video.cancel` is
        # dead-lettered with the provider's answer while the task runs on, costing money.
        sim.fault(task_id=task_id, cancel_error=400, cancel_error_count=1)
        await client.jobs.CancelJob(jobs_pb2.CancelJobRequest(job_id=job.job_id, reason="client changed mind"))
        request = operations_pb2.ListDeadLettersRequest(subject="video.cancel", limit=200)

        async def letter_of_job() -> operations_pb2.DeadLetterSummary | None:
            found = [x for x in (await client.operations.ListDeadLetters(request)).letters if x.job_id == job.job_id]
            return found[0] if found else None

        await _dead_lettered_cancel(stack, job.job_id, sim, task_id)
        letter = await eventually(letter_of_job, 60, "the dead-lettered cancel listed")
        assert "cancelling runway task" in letter.reason and "400" in letter.reason, letter.reason
        assert sim.task(task_id)["status"] == "RUNNING"

        # The cause is gone (the provider takes cancels again): replayed, the cancel is processed and the task stops.
        replayed = await svd(stack, "dlq", "replay", str(letter.id), "--request-id", f"replay-{job.job_id}")
        assert f"replayed {letter.id} to video.cancel" in replayed

        async def cancelled() -> bool:
            return sim.task(task_id)["status"] == "CANCELLED"

        await eventually(cancelled, 60, "the provider task to be cancelled by the replayed message")
        assert [r["status"] for r in sim.requests(op="cancel", task_id=task_id)] == [400, 204]
        letters = [x for x in (await client.operations.ListDeadLetters(request)).letters if x.job_id == job.job_id]
        assert [x.id for x in letters] == [letter.id]  # processed, not dead-lettered again


async def _dead_lettered_cancel(stack: RunningStack, job_id: str, sim: Simulator, task_id: str) -> None:
    for _ in range(120):
        letters = [
            pipeline_pb2.DeadLetter.FromString(m.data)
            for m in await subject_messages(stack.info["nats_url"], "dlq.video.cancel", 0.5)
        ]
        if any(
            codec.decode(x.payload, dict(x.headers), pipeline_pb2.VideoCancel).ref.job_id == job_id for x in letters
        ):
            return
        await asyncio.sleep(0.5)
    cancels = sim.requests(op="cancel", task_id=task_id)
    raise AssertionError(f"the cancel of job {job_id} was never dead-lettered (provider cancels: {cancels})")


async def test_operations_refuse_tenant_keys(stack: RunningStack) -> None:
    _, key = issue_key(stack, "--tenant", "t-ops")
    ch = channel(stack.info["grpc"]["dispatcher"], key)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await operations_pb2_grpc.OperationsStub(ch).ListDeadLetters(operations_pb2.ListDeadLettersRequest())
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        await ch.close()
