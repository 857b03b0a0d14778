"""A provider cancel is never dropped quietly: what may pass is retried, what cannot is dead-lettered with its reason.
Pure: the submissions table and the provider are stand-ins."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from social_video.v1 import pipeline_pb2
from svd.bus.consumer import Ack, Reject, Retry
from video_gateway.cancel import Canceller
from video_gateway.providers.base import ErrorKind, ProviderError


class Submissions:
    def __init__(self, row: Any, later_run: int | None = None) -> None:
        self.row = row
        self.later_run = later_run

    async def cancel(self, job_id: str, run: int, reason: str) -> tuple[Any, bool]:
        return self.row, True

    async def later_run_with_task(self, job_id: str, run: int, provider_job_id: str) -> int | None:
        return self.later_run


class Provider:
    name = "runway"

    def __init__(self, error: ProviderError | None = None) -> None:
        self.error = error
        self.calls: list[tuple[str, str, int | None]] = []

    async def cancel(self, task_id: str, job_id: str, key_id: int | None = None) -> None:
        self.calls.append((task_id, job_id, key_id))
        if self.error is not None:
            raise self.error


def row(**fields: Any) -> Any:
    base = {"state": "polling", "provider": "runway", "provider_job_id": "task-1", "key_id": 7, "attempt_id": None}
    return SimpleNamespace(**{**base, **fields})


EVENT = pipeline_pb2.VideoCancel(ref=pipeline_pb2.JobRef(job_id="job-1", run=0), reason="client changed mind")


async def cancel(provider: Provider | None, submission: Any, later_run: int | None = None) -> Any:
    providers = {"runway": provider} if provider is not None else {}
    return await Canceller(Submissions(submission, later_run), providers).cancel(EVENT)  # type: ignore[arg-type]


async def test_the_task_is_cancelled_with_the_key_that_submitted_it() -> None:
    provider = Provider()
    assert await cancel(provider, row()) == Ack()
    assert provider.calls == [("task-1", "job-1", 7)]


async def test_a_task_a_retry_has_resumed_is_left_to_that_run() -> None:
    # A cancel of the timed-out run, retried until the provider answers, must not stop (or delete) the task the
    # operator's retry is fetching under run 1.
    provider = Provider()
    assert await cancel(provider, row(state="cancelled"), later_run=1) == Ack()
    assert provider.calls == []


@pytest.mark.parametrize("kind", [ErrorKind.TRANSIENT, ErrorKind.RATE_LIMITED])
async def test_a_cancel_that_may_pass_is_retried(kind: ErrorKind) -> None:
    outcome = await cancel(Provider(ProviderError("runway cancel failed: HTTP 503", kind, retry_after_s=3)), row())
    assert outcome == Retry(3, "cancelling runway task task-1 of job job-1: runway cancel failed: HTTP 503")


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            ProviderError("the runway key …abcd that submitted this task was marked invalid", ErrorKind.NO_KEY),
            "cancelling runway task task-1 of job job-1 failed: the runway key …abcd that submitted this task",
        ),
        (ProviderError("HTTP 401 with key …abcd", ErrorKind.AUTH), "failed: HTTP 401 with key …abcd"),
    ],
)
async def test_a_cancel_that_cannot_pass_is_dead_lettered_with_its_reason(error: ProviderError, reason: str) -> None:
    outcome = await cancel(Provider(error), row())
    assert isinstance(outcome, Reject) and reason in outcome.reason


async def test_a_task_of_a_provider_no_longer_configured_is_dead_lettered() -> None:
    outcome = await cancel(None, row())
    assert outcome == Reject("cannot cancel runway task task-1 of job job-1: provider runway is not configured")


async def test_a_task_already_gone_is_done() -> None:
    assert await cancel(Provider(ProviderError("HTTP 404", ErrorKind.NOT_FOUND)), row()) == Ack()


async def test_nothing_submitted_yet_is_done() -> None:
    provider = Provider()
    assert await cancel(provider, row(state="submitting", provider_job_id=None, attempt_id="a-1")) == Ack()
    assert provider.calls == []
