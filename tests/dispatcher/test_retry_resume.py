"""RetryJob of a job whose provider task was made resumes that task: no new submit at the provider, the task's output
stored under the new attempt's run, credits charged once in total; the provider's money cost recorded (estimated,
actual) and summed by `svd costs`."""

from __future__ import annotations

from social_video.v1 import common_pb2 as c
from social_video.v1 import jobs_pb2
from tests.dispatcher.support import Simulator, approve, events_of, ledger, new_post, tenant_client, wait_job
from tests.dispatcher.test_operator_cli import svd


async def test_a_job_whose_storing_failed_stores_the_same_provider_task_on_retry(stack, sim: Simulator) -> None:
    async with tenant_client(stack) as (client, tenant):
        # The output download is refused (503) through all of media-store's attempts: storing fails after the provider
        # task succeeded and was paid for.
        sim.fault(output_error=503, output_error_count=50)
        post = new_post()
        await approve(client, tenant, post)
        failed = await wait_job(client, (await client.find_job(tenant, post)).job_id, timeout_s=180)
        assert failed.status == c.JOB_STATUS_FAILED and failed.failed_phase == c.JOB_STEP_STORING, failed
        assert failed.provider_job_id
        sim.clear()
        submits = len(sim.requests(op="submit"))

        request = jobs_pb2.RetryJobRequest(job_id=failed.job_id, request_id=f"resume-{failed.job_id}")
        retried = (await client.jobs.RetryJob(request)).job
        assert (retried.attempt, retried.provider_job_id) == (2, failed.provider_job_id), retried
        job = await wait_job(client, failed.job_id, timeout_s=180)

        assert job.status == c.JOB_STATUS_SUCCEEDED, (job.status, job.error)
        assert (job.attempt, job.provider_job_id) == (2, failed.provider_job_id)
        assert job.run == failed.run + 1 and job.media_id
        assert len(sim.requests(op="submit")) == submits  # the provider was not asked for a new task
        # Charged once in total: the failed attempt's hold was released, the resumed attempt's consumed.
        balance = await client.balance(tenant)
        assert job.credits_consumed > 0
        assert (balance.balance, balance.held) == (100 - job.credits_consumed, 0)
        kinds = [e.kind for e in await ledger(client, tenant) if e.kind != "grant"]
        assert sorted(kinds) == ["consume", "hold", "hold", "release"], kinds
        # What the provider charged, beside the credits: estimated before the paid call, actual once stored (the
        # price table's Runway gen4_turbo: 5 credits/s at $0.01), once although two attempts ran.
        cost = round(job.duration_seconds * 5 * 0.01, 4)
        assert (job.estimated_cost_usd, job.actual_cost_usd) == (cost, cost), job
        messages = [e.message for e in await events_of(client, job.job_id)]
        assert any(m.endswith(f"runway estimated at ${cost:.4f} (gen4_turbo)") for m in messages), messages
        started = [e.message for e in await events_of(client, job.job_id) if "attempt 2 started" in e.message]
        assert started == [
            f"attempt 2 started by an operator from polling (resuming runway task {failed.provider_job_id})"
        ]

        # `svd costs` sums them beside the credits charged (the platform's margin), by tenant and by provider.
        by_tenant = await svd(stack, "costs", "--since", "1h", "--by", "tenant")
        row = next(line for line in by_tenant.splitlines() if tenant in line)
        assert f"{cost:.4f}" in row and f" {job.credits_consumed} " in row, by_tenant
        assert "runway" in await svd(stack, "costs", "--by", "provider")
