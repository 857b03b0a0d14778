"""Per-provider caps at submit time: the decision (pure), and a submit that finds every slot taken waits without
calling the provider, gives its claim back and says what it waits for."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from svd.bus.consumer import Ack, Retry
from video_gateway.capacity import Full, has_room
from video_gateway.submit import ImageOptions, Submitter


def test_a_cap_admits_below_it_and_zero_means_no_cap() -> None:
    assert has_room(0, 2) and has_room(1, 2)
    assert not has_room(2, 2) and not has_room(5, 2)
    assert has_room(0, 0) and has_room(10_000, 0)


def test_the_label_names_the_provider_and_its_concurrency() -> None:
    assert Full("runway", 3, 3).label == "Waiting for Runway's concurrency: 3 of 3 tasks in flight"
    assert Full("kling", 1, 1).label == "Waiting for Kling's concurrency: 1 of 1 tasks in flight"


class Submissions:
    """A claimed run whose provider has `free` slots left."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.calls: list[str] = []

    async def claim(self, *args: Any) -> Any:
        return SimpleNamespace(mine=True, interrupted=False, token="tok", row=None)

    async def reserve(self, job_id: str, run: int, token: str, provider: str, cap: int) -> Full | None:
        self.calls.append(f"reserve {provider} cap {cap}")
        if self.free <= 0:
            return Full(provider, cap, cap)
        self.free -= 1
        return None

    async def release(self, job_id: str, run: int, token: str) -> None:
        self.calls.append("release")

    async def begin_attempt(self, *args: Any) -> str:
        self.calls.append("begin")
        return "attempt-1"

    async def submitted(self, *args: Any) -> Any:
        self.calls.append("submitted")
        return SimpleNamespace(provider="runway", provider_job_id="task-1")


class Provider:
    name = "runway"

    def __init__(self) -> None:
        self.adapter = self
        self.submits = 0

    def check(self, request: Any) -> None:
        return None

    async def submit(self, request: Any, job_id: str, attempts: Any) -> Any:
        self.submits += 1
        await attempts.begin(self.name, 1)
        return SimpleNamespace(task_id="task-1", key_id=1, key_label="…0001")


class Store:
    async def presigned_get(self, key: str, ttl_s: int) -> str:
        return f"https://store.example/{key}"


class Outbound:
    def __init__(self) -> None:
        self.labels: list[tuple[int, str, str]] = []
        self.announced: list[str] = []

    async def progress(self, ref: Any, step: int, percent: int, label: str, key: str = "") -> None:
        self.labels.append((step, label, key))

    async def submitted(self, event: Any, row: Any) -> None:
        self.announced.append(row.provider_job_id)


def submitter(submissions: Submissions, provider: Provider, outbound: Outbound) -> Submitter:
    return Submitter(
        submissions,  # type: ignore[arg-type]
        [provider],  # type: ignore[list-item]
        Store(),  # type: ignore[arg-type]
        outbound,  # type: ignore[arg-type]
        ImageOptions("url", 60, 1),
        claim_stale_after_s=60,
        record_budget_s=60,
        max_in_flight={"runway": 2},
        slot_recheck_s=7.0,
    )


EVENT = pipeline_pb2.StillReady(ref=pipeline_pb2.JobRef(job_id="j", run=1), still_key="s.png")


async def test_a_submit_with_every_slot_taken_waits_without_calling_the_provider() -> None:
    submissions, provider, outbound = Submissions(free=0), Provider(), Outbound()
    outcome = await submitter(submissions, provider, outbound).still_ready(EVENT)
    assert outcome == Retry(7.0, "Waiting for Runway's concurrency: 2 of 2 tasks in flight")
    assert provider.submits == 0
    assert submissions.calls == ["reserve runway cap 2", "release"]  # the claim is given back for the redelivery
    assert outbound.labels == [
        (c.JOB_STEP_SUBMITTING, "Waiting for Runway's concurrency: 2 of 2 tasks in flight", "slot.runway.2")
    ]


async def test_a_submit_holding_a_slot_goes_to_the_provider() -> None:
    submissions, provider, outbound = Submissions(free=1), Provider(), Outbound()
    outcome = await submitter(submissions, provider, outbound).still_ready(EVENT)
    assert outcome == Ack()
    assert provider.submits == 1 and outbound.announced == ["task-1"]
    assert submissions.calls == ["reserve runway cap 2", "begin", "submitted"]
    assert [label for _, label, _ in outbound.labels] == ["Submitting to the video provider"]
