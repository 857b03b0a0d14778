"""Back-pressure made visible: a task waiting in the provider's own queue says so in the job's label (once per
distinct state) and is counted per provider and status word."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from svd.telemetry import metrics
from video_gateway.poll import Poller
from video_gateway.polling import PollSchedule
from video_gateway.providers.base import TaskState, TaskStatus


class Published:
    def __init__(self) -> None:
        self.updates: list[tuple[int, int, str, str]] = []

    async def progress(self, ref: Any, step: int, percent: int, label: str, key: str = "") -> None:
        self.updates.append((step, percent, label, key))


class Counted:
    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def add(self, amount: int, attributes: dict[str, str]) -> None:
        self.counts[(attributes["provider"], attributes["status"])] += amount


async def test_throttled_and_queued_tasks_say_where_they_wait_and_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    counted = Counted()
    monkeypatch.setattr(metrics, "provider_waiting", counted)
    published = Published()
    poller = Poller(None, {}, published, PollSchedule(45, 30, 15))  # type: ignore[arg-type]
    event = pipeline_pb2.VideoPoll(ref=pipeline_pb2.JobRef(job_id="j", run=1))
    await poller._waiting(event, "runway", TaskStatus(TaskState.PENDING, detail="THROTTLED"))
    await poller._waiting(event, "runway", TaskStatus(TaskState.PENDING, detail="THROTTLED"))
    await poller._waiting(event, "kling", TaskStatus(TaskState.PENDING, detail="IN_QUEUE", queue_position=3))
    await poller._waiting(event, "kling", TaskStatus(TaskState.RUNNING, detail="IN_PROGRESS"))
    assert [(label, key) for _, _, label, key in published.updates] == [
        ("Waiting at runway: throttled (over the account's concurrency)", "waiting.THROTTLED."),
        ("Waiting at runway: throttled (over the account's concurrency)", "waiting.THROTTLED."),
        ("Waiting at kling: 3 ahead in its queue", "waiting.IN_QUEUE.3"),
        ("Animating (IN_PROGRESS)", "waiting.IN_PROGRESS."),
    ]
    assert all(step == c.JOB_STEP_POLLING and percent == 0 for step, percent, _, _ in published.updates)
    assert counted.counts == Counter({("runway", "THROTTLED"): 2, ("kling", "IN_QUEUE"): 1})
