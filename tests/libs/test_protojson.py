"""svd.protojson prints exactly what json_format prints (it only does it faster), and to_timestamp keeps its values."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from social_video.v1 import common_pb2 as c
from social_video.v1 import jobs_pb2, operations_pb2, outbound_pb2, webhooks_pb2
from svd import protojson
from svd.timeutil import to_timestamp


def full_job() -> jobs_pb2.Job:
    job = jobs_pb2.Job(
        job_id="j1",
        tenant_id="t1",
        social_post_id="p1",
        status=c.JOB_STATUS_SUCCEEDED,
        step=c.JOB_STEP_POLLING,
        progress=100,
        error='é ✓ "quoted"',
        provider=c.VIDEO_PROVIDER_RUNWAY,
        credits_reserved=2**53 + 1,
        credits_consumed=12,
        duration_seconds=5,
        run=3,
        attempt=2,
        estimated_cost_usd=0.1 + 0.2,
        actual_cost_usd=-1e-300,
        label="Done",
    )
    job.created_at.CopyFrom(Timestamp(seconds=1_700_000_000, nanos=0))
    job.updated_at.CopyFrom(Timestamp(seconds=1_700_000_001, nanos=5_000_000))
    job.deadline.CopyFrom(Timestamp(seconds=-1, nanos=123_456_789))
    return job


def messages() -> list[object]:
    unknown_enum = jobs_pb2.Job(job_id="j2", status=999, wake_reason=77)
    infinite = jobs_pb2.Job(estimated_cost_usd=math.inf, actual_cost_usd=-math.inf)
    missing = jobs_pb2.Job(estimated_cost_usd=math.nan)
    event = jobs_pb2.JobEvent(level="info", message="m")
    event.time.CopyFrom(Timestamp(seconds=0, nanos=1_000))
    event.metadata.update({"a": 1, "b": [True, None, "x"]})
    letter = operations_pb2.DeadLetterDetail(headers={"k": "v"}, body_json="{}", payload=b"\x00\xff binary")
    post = outbound_pb2.PostStatusChanged(
        event_id="e", tenant_id="t", post_status=c.POST_STATUS_DESIGN_PENDING, media_id="m"
    )
    post.changed_at.CopyFrom(to_timestamp(datetime(2026, 11, 28, 1, 2, 3, 456789, tzinfo=UTC)))
    return [
        webhooks_pb2.WebhookJobData(job=full_job(), video_url="https://v", poster_url="https://p", size_bytes=42),
        webhooks_pb2.WebhookJobData(),
        webhooks_pb2.WebhookTestData(endpoint_id="ep", message="hello"),
        jobs_pb2.ListJobsResponse(jobs=[full_job(), unknown_enum]),
        unknown_enum,
        infinite,
        missing,
        event,
        jobs_pb2.GetJobEventsResponse(events=[event, jobs_pb2.JobEvent()]),
        letter,
        post,
        Struct(),
    ]


@pytest.mark.parametrize("message", messages(), ids=lambda m: type(m).__name__)
def test_the_same_dict_as_json_format(message: object) -> None:
    expected = json_format.MessageToDict(message)  # type: ignore[arg-type]
    got = protojson.message_to_dict(message)  # type: ignore[arg-type]
    assert _same(got, expected), (got, expected)


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [
        (0, 0),
        (1_700_000_000, 1_000_000),
        (1_700_000_000, 1_000),
        (1_700_000_000, 1),
        (-62135596800, 0),
        (253402300799, 999_999_999),
        (-1, 500_000_000),
    ],
)
def test_timestamps_as_timestamp_prints_them(seconds: int, nanos: int) -> None:
    assert protojson.rfc3339(seconds, nanos) == Timestamp(seconds=seconds, nanos=nanos).ToJsonString()


def test_an_invalid_timestamp_is_refused_as_json_format_refuses_it() -> None:
    with pytest.raises(ValueError):
        protojson.rfc3339(253402300800, 0)


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 28, 1, 2, 3, 456789, tzinfo=UTC),
        datetime(2026, 11, 28, 1, 2, 3, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(2026, 6, 1, 12, 0, 0, 1000),  # naive: local time
    ],
)
def test_datetimes_convert_as_protobuf_converts_them(value: datetime) -> None:
    reference = Timestamp()
    reference.FromDatetime(value.astimezone(UTC))
    assert to_timestamp(value) == reference
    assert protojson.datetime_text(value) == reference.ToJsonString()


def test_none_is_an_empty_timestamp() -> None:
    assert to_timestamp(None) == Timestamp()
