"""A submit is sent again only where the provider provably created nothing; status and cancel use the submitting key;
the key pool's usage buffer is bounded while the database is down. Pure: HTTP answers come from `httpx.MockTransport`,
the key pool and the attempt log are stand-ins."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import fal_client.client
import httpx
import psycopg
import pytest

from social_video.v1 import common_pb2 as c
from video_gateway.keypool import KeyCipher, KeyPool, Lease
from video_gateway.pooled import PooledProvider
from video_gateway.providers.base import ErrorKind, ProviderError, SubmitRequest, TaskState, TaskStatus, kind_for_status
from video_gateway.providers.kling import KlingProvider
from video_gateway.providers.runway import RunwayProvider
from video_gateway.providers.runway_models import MODELS
from video_gateway.selection import fails_over
from video_gateway.settings import GatewaySettings

REQUEST = SubmitRequest("https://store.example.com/still.png", "Slow zoom in.", 5, "9:16")
Handler = Callable[[httpx.Request], httpx.Response]


def runway(handler: Handler) -> RunwayProvider:
    http = httpx.AsyncClient(base_url="https://runway.test", transport=httpx.MockTransport(handler), timeout=7)
    return RunwayProvider(http, models=(MODELS["gen4_turbo"],), version="v")


def kling(handler: Handler) -> KlingProvider:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), timeout=7)
    return KlingProvider(http, negative_prompt="", cfg_scale=0.5, timeout_s=5)


def raising(exc_type: type[httpx.TransportError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type("simulated", request=request)

    return handler


def answering(status: int, body: Any = None) -> Handler:
    return lambda request: httpx.Response(status, json=body if body is not None else {"error": "x"})


ADAPTERS = {"runway": runway, "kling": kling}


@pytest.mark.parametrize("provider", ADAPTERS)
@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        # Nothing was sent: safe to send (elsewhere) again.
        (httpx.ConnectError, ErrorKind.TRANSIENT),
        (httpx.ConnectTimeout, ErrorKind.TRANSIENT),
        (httpx.PoolTimeout, ErrorKind.TRANSIENT),
        # The body went out: the task may exist.
        (httpx.ReadTimeout, ErrorKind.AMBIGUOUS),
        (httpx.ReadError, ErrorKind.AMBIGUOUS),
        (httpx.RemoteProtocolError, ErrorKind.AMBIGUOUS),
        (httpx.WriteError, ErrorKind.AMBIGUOUS),
    ],
)
async def test_a_submit_is_retryable_only_if_nothing_was_sent(
    provider: str, failure: type[httpx.TransportError], kind: ErrorKind
) -> None:
    with pytest.raises(ProviderError) as caught:
        await ADAPTERS[provider](raising(failure)).submit(REQUEST, "key")
    assert caught.value.kind is kind
    if kind is ErrorKind.AMBIGUOUS:
        assert "after the request was sent" in caught.value.message
    assert fails_over(caught.value) is (kind is ErrorKind.TRANSIENT)


async def test_a_submit_timeout_names_the_submit_timeout() -> None:
    with pytest.raises(ProviderError) as caught:
        await runway(raising(httpx.ReadTimeout)).submit(REQUEST, "key")
    assert caught.value.message == "submit to runway timed out after the request was sent (no answer within 7 s)"


@pytest.mark.parametrize("provider", ADAPTERS)
@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (500, ErrorKind.AMBIGUOUS),
        (502, ErrorKind.AMBIGUOUS),
        (503, ErrorKind.AMBIGUOUS),
        (504, ErrorKind.AMBIGUOUS),
        (408, ErrorKind.AMBIGUOUS),
        (409, ErrorKind.AMBIGUOUS),
        (429, ErrorKind.RATE_LIMITED),  # Runway's daily cap: refused, nothing created
        (401, ErrorKind.AUTH),
        (400, ErrorKind.REJECTED),
    ],
)
async def test_a_submit_answered_with_a_server_error_is_ambiguous(provider: str, status: int, kind: ErrorKind) -> None:
    with pytest.raises(ProviderError) as caught:
        await ADAPTERS[provider](answering(status)).submit(REQUEST, "key")
    assert caught.value.kind is kind
    assert kind_for_status(status, submit=True) is kind


@pytest.mark.parametrize("provider", ADAPTERS)
async def test_a_submit_answered_without_a_task_id_is_ambiguous(provider: str) -> None:
    with pytest.raises(ProviderError) as caught:
        await ADAPTERS[provider](answering(200, {"status": "ok"})).submit(REQUEST, "key")
    assert caught.value.kind is ErrorKind.AMBIGUOUS


async def test_kling_submits_once_to_the_queue_with_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", "https://queue.fal.test/")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "IN_QUEUE", "request_id": "req-1"})

    assert await kling(handler).submit(REQUEST, "id:secret") == "req-1"
    (request,) = seen
    assert str(request.url) == "https://queue.fal.test/fal-ai/kling-video/v1.6/standard/image-to-video"
    assert request.headers["authorization"] == "Key id:secret"


async def test_status_reads_stay_retryable_after_a_timeout() -> None:
    with pytest.raises(ProviderError) as caught:
        await runway(raising(httpx.ReadTimeout)).status("task-1", "key")
    assert caught.value.kind is ErrorKind.TRANSIENT
    assert kind_for_status(503) is ErrorKind.TRANSIENT


# --- the pooled provider -------------------------------------------------------------------------------------------


class FakePool:
    """The `KeyPool` calls the pooled provider makes, over keys 1..n."""

    def __init__(self, keys: int = 2) -> None:
        self.leases = [Lease(i, "runway", f"…{i:04d}", f"secret-{i}") for i in range(1, keys + 1)]
        self.leased = 0
        self.cooled: list[int] = []
        self.invalid: list[int] = []
        self.usage: list[tuple[int, str, str]] = []

    async def lease(self, provider: str) -> Lease:
        lease = self.leases[self.leased % len(self.leases)]
        self.leased += 1
        return lease

    async def key(self, provider: str, key_id: int) -> Lease:
        return self.leases[key_id - 1]

    def record(self, lease: Lease, action: str, outcome: str, http_status: int = 0, job_id: str = "") -> None:
        self.usage.append((lease.key_id, action, outcome))

    async def cool_down(self, lease: Lease, retry_after_s: float | None) -> None:
        self.cooled.append(lease.key_id)

    async def invalidate(self, lease: Lease, reason: str) -> None:
        self.invalid.append(lease.key_id)


class FakeAdapter:
    name = "runway"
    rate_provider = c.VIDEO_PROVIDER_RUNWAY

    def __init__(self, *outcomes: str | ProviderError) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, str]] = []

    def _next(self, call: str, key: str) -> Any:
        self.calls.append((call, key))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, ProviderError):
            raise outcome
        return outcome

    def check(self, request: SubmitRequest) -> None:
        return None

    async def submit(self, request: SubmitRequest, key: str) -> str:
        return str(self._next("submit", key))

    async def status(self, task_id: str, key: str) -> TaskStatus:
        self._next("status", key)
        return TaskStatus(TaskState.RUNNING)

    async def cancel(self, task_id: str, key: str) -> None:
        self._next("cancel", key)


class Log:
    def __init__(self) -> None:
        self.events: list[str] = []

    async def begin(self, provider: str, key_id: int) -> None:
        self.events.append(f"begin {provider} {key_id}")

    async def clear(self) -> None:
        self.events.append("clear")


def pooled(adapter: FakeAdapter, pool: FakePool, attempts: int = 4) -> PooledProvider:
    return PooledProvider(
        adapter,
        pool,  # type: ignore[arg-type]
        submit_attempts=attempts,
        submit_deadline_s=30,
        backoff_s=0.01,
    )


async def test_an_ambiguous_submit_is_never_sent_again_and_its_attempt_stays_recorded() -> None:
    adapter = FakeAdapter(ProviderError("submit to runway timed out after the request was sent", ErrorKind.AMBIGUOUS))
    log = Log()
    with pytest.raises(ProviderError) as caught:
        await pooled(adapter, FakePool()).submit(REQUEST, "job-1", log)
    assert caught.value.kind is ErrorKind.AMBIGUOUS
    assert adapter.calls == [("submit", "secret-1")]
    assert log.events == ["begin runway 1"]  # not cleared: the task may exist


async def test_a_submit_that_never_left_is_retried_and_its_attempt_cleared() -> None:
    adapter = FakeAdapter(ProviderError("no connection", ErrorKind.TRANSIENT), "task-1")
    log = Log()
    submitted = await pooled(adapter, FakePool(keys=1)).submit(REQUEST, "job-1", log)
    assert (submitted.task_id, submitted.key_id) == ("task-1", 1)
    assert log.events == ["begin runway 1", "clear", "begin runway 1"]


async def test_a_rate_limited_key_is_cooled_down_and_another_key_submits() -> None:
    adapter = FakeAdapter(ProviderError("daily cap", ErrorKind.RATE_LIMITED, http_status=429), "task-2")
    pool, log = FakePool(), Log()
    submitted = await pooled(adapter, pool).submit(REQUEST, "job-1", log)
    assert (submitted.task_id, submitted.key_id, submitted.key_label) == ("task-2", 2, "…0002")
    assert pool.cooled == [1] and [key for _, key in adapter.calls] == ["secret-1", "secret-2"]
    assert log.events == ["begin runway 1", "clear", "begin runway 2"]


async def test_status_and_cancel_use_the_key_that_submitted() -> None:
    adapter = FakeAdapter("running", "cancelled")
    pool = FakePool(keys=3)
    provider = pooled(adapter, pool)
    await provider.status("task-1", "job-1", 3)
    await provider.cancel("task-1", "job-1", 3)
    assert adapter.calls == [("status", "secret-3"), ("cancel", "secret-3")]
    assert pool.leased == 0  # no other key was leased


async def test_a_refusal_with_the_submitting_key_says_which_key_and_moves_to_no_other() -> None:
    refused = ProviderError("runway status failed: HTTP 401: Invalid API key.", ErrorKind.AUTH, http_status=401)
    adapter = FakeAdapter(refused)
    pool = FakePool()
    with pytest.raises(ProviderError) as caught:
        await pooled(adapter, pool).status("task-1", "job-1", 2)
    assert caught.value.kind is ErrorKind.AUTH
    assert "key …0002, which submitted task task-1" in caught.value.message
    assert pool.invalid == [2] and len(adapter.calls) == 1


# --- the key pool's usage buffer -----------------------------------------------------------------------------------


class Connections:
    """A `svd.db.pool.Pool` stand-in: every connection fails while `down`, else captures what is executed."""

    def __init__(self) -> None:
        self.down = True
        self.executed: list[Any] = []

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connections]:
        if self.down:
            raise psycopg.OperationalError("connection refused")
        yield self

    async def execute(self, sql: str, params: Any = None) -> None:
        self.executed.append(params)


async def test_usage_buffered_while_the_database_is_down_is_capped_keeping_the_newest() -> None:
    connections = Connections()
    pool = KeyPool(connections, KeyCipher.ephemeral(), default_cooldown_s=1, max_buffered_usage=5)  # type: ignore[arg-type]
    lease = Lease(1, "runway", "…0001", "secret")
    for i in range(8):
        pool.record(lease, "status", "ok", 0, f"job-{i}")
    assert (pool.buffered_usage, pool.dropped_usage) == (5, 3)
    with pytest.raises(psycopg.OperationalError):
        await pool.flush()
    pool.record(lease, "status", "ok", 0, "job-8")
    assert (pool.buffered_usage, pool.dropped_usage) == (5, 4)

    connections.down = False
    assert await pool.flush() == 5
    (columns,) = connections.executed
    assert columns[-1] == [f"job-{i}" for i in range(4, 9)]  # the oldest were dropped
    assert pool.buffered_usage == 0


def test_the_submit_claim_outlasts_the_longest_submit_request(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "NATS_URL": "nats://x",
        "DATABASE_URL": "postgresql+psycopg://x",
        "DO_SPACES_KEY": "k",
        "DO_SPACES_SECRET": "s",
        "DO_SPACES_BUCKET": "b",
        "DO_SPACES_ENDPOINT": "http://s3",
        "RUNWAY_SUBMIT_TIMEOUT_S": "90",
        "KLING_SUBMIT_TIMEOUT_S": "150",
        "PROVIDER_CONNECT_TIMEOUT_S": "5",
    }.items():
        monkeypatch.setenv(name, value)
    settings = GatewaySettings()  # type: ignore[call-arg]
    assert settings.submit_claim_stale_after_s(["runway"]) > 90 + 5
    assert settings.submit_claim_stale_after_s(["runway", "kling"]) > 150 + 5
    assert settings.shutdown_grace_s > 150 + 5  # a submit in flight at SIGTERM is let finish


def test_the_declared_grace_is_the_derived_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deployment tools (`svd down`, compose) read the field's default: it must be what the service derives."""
    for name in ("NATS_URL", "DO_SPACES_KEY", "DO_SPACES_SECRET", "DO_SPACES_BUCKET"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://x")
    monkeypatch.setenv("DO_SPACES_ENDPOINT", "http://s3")
    for name in ("SHUTDOWN_GRACE_S", "RUNWAY_SUBMIT_TIMEOUT_S", "KLING_SUBMIT_TIMEOUT_S", "PROVIDER_CONNECT_TIMEOUT_S"):
        monkeypatch.delenv(name, raising=False)
    derived = GatewaySettings().shutdown_grace_s  # type: ignore[call-arg]
    assert derived == GatewaySettings.model_fields["shutdown_grace_s"].default
