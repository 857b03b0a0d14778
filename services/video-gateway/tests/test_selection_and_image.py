"""Provider selection, failover rules, error kinds and how the still reaches the provider (pure)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from social_video.v1 import pipeline_pb2
from svd.bus import topology
from video_gateway import prompt_image
from video_gateway.keypool import KeyCipher, fingerprint, label
from video_gateway.outbound import Outbound
from video_gateway.providers.base import ErrorKind, ProviderError, kind_for_status, parse_retry_after
from video_gateway.selection import fails_over, submit_order
from video_gateway.settings import GatewaySettings


def test_runway_is_primary_and_kling_the_fallback() -> None:
    assert submit_order(["kling", "runway"]) == ["runway", "kling"]
    assert submit_order(["kling"]) == ["kling"]
    assert submit_order([]) == []


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (ErrorKind.TRANSIENT, True),
        (ErrorKind.RATE_LIMITED, True),
        (ErrorKind.NO_KEY, True),
        (ErrorKind.REJECTED, False),
        (ErrorKind.AUTH, False),
    ],
)
def test_only_an_unavailable_provider_fails_over(kind: ErrorKind, expected: bool) -> None:
    assert fails_over(ProviderError("x", kind)) is expected


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, ErrorKind.AUTH),
        (403, ErrorKind.AUTH),
        (429, ErrorKind.RATE_LIMITED),
        (404, ErrorKind.NOT_FOUND),
        (400, ErrorKind.REJECTED),
        (422, ErrorKind.REJECTED),
        (500, ErrorKind.TRANSIENT),
        (503, ErrorKind.TRANSIENT),
    ],
)
def test_http_statuses_map_to_error_kinds(status: int, kind: ErrorKind) -> None:
    assert kind_for_status(status) is kind


def test_retry_after_seconds() -> None:
    assert parse_retry_after("7") == 7
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("url", "fetchable"),
    [
        ("https://bucket.nyc3.digitaloceanspaces.com/still.png?X-Amz-Signature=1", True),
        ("http://bucket.nyc3.digitaloceanspaces.com/still.png", False),
        ("https://127.0.0.1:8333/bucket/still.png", False),
        ("https://localhost/still.png", False),
    ],
)
def test_only_https_urls_on_host_names_are_fetchable(url: str, fetchable: bool) -> None:
    assert prompt_image.fetchable(url) is fetchable
    assert prompt_image.use_data_uri("auto", url) is not fetchable
    assert prompt_image.use_data_uri("url", url) is False
    assert prompt_image.use_data_uri("data_uri", url) is True


def test_data_uri_and_its_size() -> None:
    data = bytes(range(256)) * 5
    uri = prompt_image.data_uri(data, "image/png")
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == data
    assert prompt_image.data_uri_size(len(data), "image/png") == len(uri)
    assert prompt_image.content_type("tenants/t/stills/j-0.png") == "image/png"
    assert prompt_image.content_type("x/still.jpg") == "image/jpeg"


def test_the_provider_animates_the_clean_source_image_else_the_still() -> None:
    ready = pipeline_pb2.StillReady(still_key="s/j-0.png", source_key="s/j-0-source.png", overlay_key="s/j-0-o.png")
    assert prompt_image.animated_key(ready) == "s/j-0-source.png"
    baked = pipeline_pb2.StillReady(still_key="s/j-0.png")  # TEXT_OVERLAY=baked, or a message from before sources
    assert prompt_image.animated_key(baked) == "s/j-0.png"


def test_keys_are_encrypted_and_labelled_without_revealing_them() -> None:
    cipher = KeyCipher(_fernet_key())
    token = cipher.encrypt("rk_live_secret_1234")
    assert b"rk_live_secret" not in token
    assert cipher.decrypt(token) == "rk_live_secret_1234"
    assert label("rk_live_secret_1234") == "…1234"
    assert fingerprint("runway", "k") != fingerprint("kling", "k")


def test_a_second_kek_decrypts_what_the_old_one_encrypted() -> None:
    old, new = _fernet_key(), _fernet_key()
    token = KeyCipher(old).encrypt("secret-key-value")
    assert KeyCipher(f"{new},{old}").decrypt(token) == "secret-key-value"
    with pytest.raises(ValueError, match="PROVIDER_KEY_ENCRYPTION_KEY"):
        KeyCipher("not-a-fernet-key")


def test_key_lists_merge_the_single_and_plural_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "NATS_URL": "nats://x",
        "DATABASE_URL": "postgresql+psycopg://x",
        "DO_SPACES_KEY": "k",
        "DO_SPACES_SECRET": "s",
        "DO_SPACES_BUCKET": "b",
        "DO_SPACES_ENDPOINT": "http://s3",
        "RUNWAY_API_KEY": "rw-1",
        "RUNWAY_API_KEYS": "rw-2, rw-1 ,rw-3",
        "FAL_API_KEY": "",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("FAL_API_KEYS", raising=False)
    settings = GatewaySettings()  # type: ignore[call-arg]
    assert settings.keys("runway") == ["rw-1", "rw-2", "rw-3"]
    assert settings.keys("kling") == []


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    async def publish(self, subject: str, message: Any, msg_id: str) -> None:
        self.sent.append((subject, message))


async def test_the_overlay_key_travels_from_the_still_to_media_store() -> None:
    publisher = _Recorder()
    outbound = Outbound(publisher)  # type: ignore[arg-type]
    ready = pipeline_pb2.StillReady(
        ref=pipeline_pb2.JobRef(job_id="j", run=0), still_key="s.png", source_key="src.png", overlay_key="ov.png"
    )
    row = SimpleNamespace(
        provider="runway", provider_job_id="task-1", motion_prompt="Slow zoom.", submitted_at=datetime.now(UTC)
    )
    await outbound.submitted(ready, row)
    poll = next(message for subject, message in publisher.sent if subject == topology.POLL)
    assert (poll.still_key, poll.overlay_key) == ("s.png", "ov.png")
    await outbound.ready(poll, ["https://provider.example/out.mp4"])
    video_ready = next(message for subject, message in publisher.sent if subject == topology.READY)
    assert (video_ready.still_key, video_ready.overlay_key) == ("s.png", "ov.png")
