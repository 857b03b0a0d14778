"""Pure webhook rules: URLs and the SSRF policy, signatures, answers and retries, payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from dispatcher.webhooks import domain, events
from dispatcher.webhooks.domain import Verdict, after_attempt, verdict
from dispatcher.webhooks.settings import parse_schedule
from svd.errors import InvalidArgument

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example.com/x", "must be https"),
        ("ftp://hooks.example.com/x", "must be https"),
        ("https://10.0.0.1/x", "private"),
        ("https://127.0.0.1/x", "loopback"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[::ffff:169.254.169.254]/x", "link-local"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("https:///x", "host"),
    ],
)
def test_endpoint_urls_must_be_https_to_a_public_host(url: str, why: str) -> None:
    with pytest.raises(InvalidArgument, match=why):
        domain.check_url(url, allow_private=False)


def test_the_development_flag_allows_loopback_and_private_but_never_the_metadata_service() -> None:
    assert domain.check_url("http://127.0.0.1:8080/hook", allow_private=True) == ("127.0.0.1", 8080)
    assert domain.check_url("https://10.0.0.1/hook", allow_private=True) == ("10.0.0.1", 443)
    with pytest.raises(InvalidArgument, match="must be https"):
        domain.check_url("http://10.0.0.1/hook", allow_private=True)  # plain http only to loopback
    with pytest.raises(InvalidArgument, match="link-local"):
        domain.check_url("http://169.254.169.254/", allow_private=True)


def test_event_types_are_checked_and_empty_means_all() -> None:
    assert domain.check_event_types(["job.failed", "job.succeeded", "job.failed"]) == ["job.failed", "job.succeeded"]
    with pytest.raises(InvalidArgument, match=r"job\.finished"):
        domain.check_event_types(["job.finished"])
    assert domain.wants([], "job.progress") and domain.wants(["job.failed"], "webhook.test")
    assert not domain.wants(["job.failed"], "job.progress")


def test_signatures_verify_with_every_live_secret() -> None:
    old, new = domain.new_secret(), domain.new_secret()
    assert old.startswith("whsec_") and old != new
    body = '{"type":"job.failed"}'
    headers = domain.signature_headers("msg_1", datetime.now(UTC), body, [new, old])
    for secret in (old, new):
        Webhook(secret).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(domain.new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body + " ", headers)  # the exact bytes are signed


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, Verdict.SUCCEEDED),
        (204, Verdict.SUCCEEDED),
        (None, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
        (408, Verdict.RETRY),
        (409, Verdict.RETRY),
        (429, Verdict.RETRY),
        (400, Verdict.FINAL),
        (401, Verdict.FINAL),
        (404, Verdict.FINAL),
        (410, Verdict.FINAL),
        (301, Verdict.FINAL),
    ],
)
def test_what_an_answer_means(status: int | None, expected: Verdict) -> None:
    assert verdict(status) is expected


def test_a_refused_address_is_final() -> None:
    assert verdict(None, refused=True) is Verdict.FINAL


def test_retries_follow_the_schedule_then_give_up() -> None:
    schedule = (5.0, 300.0)
    assert after_attempt(Verdict.RETRY, 1, schedule, NOW).at == NOW + timedelta(seconds=5)
    assert after_attempt(Verdict.RETRY, 2, schedule, NOW).at == NOW + timedelta(seconds=300)
    assert after_attempt(Verdict.RETRY, 3, schedule, NOW).status == "failed"
    assert after_attempt(Verdict.FINAL, 1, schedule, NOW).status == "failed"
    assert after_attempt(Verdict.SUCCEEDED, 3, schedule, NOW).status == "succeeded"


def test_retry_after_is_honoured_when_longer_and_capped() -> None:
    schedule = (5.0,)
    assert after_attempt(Verdict.RETRY, 1, schedule, NOW, 60.0).at == NOW + timedelta(seconds=60)
    assert after_attempt(Verdict.RETRY, 1, schedule, NOW, 1.0).at == NOW + timedelta(seconds=5)
    assert after_attempt(Verdict.RETRY, 1, schedule, NOW, 1e9, 3600.0).at == NOW + timedelta(seconds=3600)
    assert domain.retry_after_s("120", NOW) == 120.0
    assert domain.retry_after_s("Sat, 28 Nov 2026 12:01:00 GMT", NOW) == 60.0
    assert domain.retry_after_s("soon", NOW) is None and domain.retry_after_s(None, NOW) is None


def test_a_response_excerpt_is_text_postgresql_can_hold() -> None:
    assert domain.excerpt(b"ok\x00\xffend") == "ok\ufffd\ufffdend"
    assert len(domain.excerpt(b"x" * 100_000)) == domain.EXCERPT_CHARS


def test_the_schedule_setting() -> None:
    assert parse_schedule("5, 300,1800") == (5.0, 300.0, 1800.0)
    assert parse_schedule("") == ()
    for bad in ("5,x", "-1"):
        with pytest.raises(ValueError, match="WEBHOOK_RETRY_SCHEDULE_S"):
            parse_schedule(bad)


def _job_snapshot(**changes: object) -> dict[str, object]:
    snapshot: dict[str, object] = {
        "job_id": "j1",
        "tenant_id": "t1",
        "social_post_id": "p1",
        "status": "succeeded",
        "step": "done",
        "progress": 100,
        "error": "",
        "created_at": "2026-11-28T11:59:00+00:00",
        "updated_at": "2026-11-28T12:00:00.5+00:00",
        "deadline_at": "2026-11-28T12:59:00+00:00",
        "provider": "runway",
        "provider_job_id": "task-1",
        "reservation_id": "hold-secret",
        "credits_reserved": 25,
        "credits_consumed": 15,
        "media_id": "m1",
        "object_key": "t1/p1/video.mp4",
        "still_key": "",
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
        "duration_seconds": 5,
        "aspect_ratio": "9:16",
        "wake_reason": "copy_approved",
        "run": 1,
        "platform_format": "reel",
        "failed_phase": "",
        "attempt": 1,
        "estimated_cost_usd": 0.25,
        "actual_cost_usd": 0.25,
    }
    snapshot.update(changes)
    return snapshot


def test_a_job_payload_is_the_proto3_json_of_the_job_as_its_tenant_sees_it() -> None:
    media = events.Media("https://cdn/v.mp4", "https://cdn/v-poster.jpg", 1234)
    body = json.loads(events.render("job.succeeded", NOW, _job_snapshot(), "msg_1", media))
    assert body["type"] == "job.succeeded" and body["timestamp"] == "2026-11-28T12:00:00Z"
    job = body["data"]["job"]
    assert job["socialPostId"] == "p1" and job["status"] == "JOB_STATUS_SUCCEEDED"
    assert job["creditsConsumed"] == "15" and job["traceId"] == "0af7651916cd43dd8448eb211c80319c"
    assert "reservationId" not in job
    assert body["data"]["videoUrl"] == "https://cdn/v.mp4" and body["data"]["sizeBytes"] == "1234"


def test_a_failed_job_names_its_phase_and_reason() -> None:
    snapshot = _job_snapshot(status="failed", step="polling", failed_phase="polling", error="provider said no")
    body = json.loads(events.render("job.failed", NOW, snapshot, "msg_1"))
    assert body["data"]["job"]["failedPhase"] == "JOB_STEP_POLLING"
    assert body["data"]["job"]["error"] == "provider said no"
    assert "videoUrl" not in body["data"]


def test_a_post_status_payload() -> None:
    snapshot = {
        "tenant_id": "t1",
        "social_post_id": "p1",
        "status": "dm_review",
        "deliverable_status": "failed",
        "current_job_id": "j1",
        "media_id": None,
        "status_reason": "timeout: stuck at polling",
        "updated_at": "2026-11-28T12:00:00+00:00",
    }
    body = json.loads(events.render("post.status_changed", NOW, snapshot, "msg_9"))
    assert body["data"] == {
        "eventId": "msg_9",
        "tenantId": "t1",
        "socialPostId": "p1",
        "jobId": "j1",
        "postStatus": "POST_STATUS_DM_REVIEW",
        "deliverableStatus": "DELIVERABLE_STATUS_FAILED",
        "reason": "timeout: stuck at polling",
        "changedAt": "2026-11-28T12:00:00Z",
    }


def test_snapshots_give_back_datetimes_and_read_columns_added_since_as_unset() -> None:
    row = events.row({"created_at": "2026-11-28T12:00:00+00:00", "note_at": None, "name": "x"})
    assert isinstance(row, SimpleNamespace) and row.created_at == NOW and row.note_at is None
    assert row.a_column_added_later is None
