"""The consumer's retry decisions (pure): nothing is retried past its deadline, nothing is dropped silently,
transient infrastructure errors are retried until the deadline, bugs only a few times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import psycopg
import pytest
from sqlalchemy.exc import OperationalError

from social_video.v1 import pipeline_pb2, upstream_pb2
from svd.bus.consumer import Ack, Reject, Retry, RetryPolicy, decide, message_deadline
from svd.errors import Internal, InvalidArgument, Unavailable, is_transient
from svd.grpc.client import translate

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(backoff_base_s=1.0, backoff_cap_s=60.0, budget_s=600.0, max_failures=5)
LATER = NOW + timedelta(hours=1)


def test_a_retry_before_the_deadline_backs_off_as_asked() -> None:
    assert decide(Retry(7.0, "billing down"), 3, LATER, NOW, POLICY) == Retry(7.0, "billing down")


def test_a_retry_at_the_deadline_is_dead_lettered_with_its_reason() -> None:
    outcome = decide(Retry(7.0, "billing down"), 40, NOW, NOW, POLICY)
    assert isinstance(outcome, Reject)
    assert "deadline" in outcome.reason and "40 deliveries" in outcome.reason and "billing down" in outcome.reason


def test_the_last_retry_happens_at_the_deadline_not_after_it() -> None:
    outcome = decide(Retry(60.0), 3, NOW + timedelta(seconds=5), NOW, POLICY)
    assert outcome == Retry(5.0, "")


def test_a_transient_error_is_retried_with_capped_backoff_for_as_long_as_the_deadline_allows() -> None:
    outcome = decide(Unavailable("billing: connection refused"), 500, LATER, NOW, POLICY)
    assert outcome == Retry(60.0, "Unavailable: billing: connection refused")
    assert decide(Unavailable("x"), 1, LATER, NOW, POLICY) == Retry(1.0, "Unavailable: x")
    assert decide(Unavailable("x"), 3, LATER, NOW, POLICY) == Retry(4.0, "Unavailable: x")


def test_a_bug_is_retried_a_few_times_then_dead_lettered() -> None:
    assert isinstance(decide(KeyError("k"), 4, LATER, NOW, POLICY), Retry)
    outcome = decide(KeyError("k"), 5, LATER, NOW, POLICY)
    assert isinstance(outcome, Reject) and "failed 5 times" in outcome.reason and "KeyError" in outcome.reason


def test_ack_and_reject_pass_through() -> None:
    assert decide(Ack(), 1, NOW, NOW, POLICY) == Ack()
    assert decide(Reject("bad"), 1, LATER, NOW, POLICY) == Reject("bad")


def test_the_deadline_is_the_jobs_own_when_the_message_names_one() -> None:
    stored = NOW - timedelta(minutes=5)
    message = pipeline_pb2.VideoReady()
    message.ref.job_id = "j"
    message.ref.deadline.FromDatetime(LATER)
    assert message_deadline(message, stored, POLICY) == LATER
    # Without a job deadline: the budget from the message's first store.
    assert message_deadline(pipeline_pb2.VideoReady(), stored, POLICY) == stored + timedelta(seconds=600)
    assert message_deadline(upstream_pb2.CopyApproved(), stored, POLICY) == stored + timedelta(seconds=600)


@pytest.mark.parametrize(
    "exc",
    [
        Unavailable("x"),
        TimeoutError(),
        ConnectionRefusedError(),
        psycopg.OperationalError("server closed the connection"),
        OperationalError("SELECT 1", {}, psycopg.OperationalError("connection refused")),
    ],
)
def test_infrastructure_failures_are_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize("exc", [ValueError("x"), KeyError("k"), InvalidArgument("bad"), Internal("bug")])
def test_bugs_and_bad_data_are_not(exc: BaseException) -> None:
    assert not is_transient(exc)


class _RpcError(grpc.aio.AioRpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        super().__init__(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=code.name)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (grpc.StatusCode.UNAVAILABLE, Unavailable),
        (grpc.StatusCode.DEADLINE_EXCEEDED, Unavailable),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, Unavailable),
        (grpc.StatusCode.INTERNAL, Internal),
        (grpc.StatusCode.UNKNOWN, Internal),
    ],
)
def test_peer_errors_are_classified_by_status(code: grpc.StatusCode, kind: type) -> None:
    assert type(translate(_RpcError(code))) is kind
