"""Video-gateway wiring: settings, database, key pool, object store, provider adapters, bus handlers, health server."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
from httpx_aiohttp import AiohttpTransport
from opentelemetry.instrumentation.httpx import AsyncOpenTelemetryTransport

from svd import db
from svd.bus.broker import make_broker
from svd.bus.publisher import EventPublisher
from svd.db.pool import open_pool
from svd.runtime import serve_until_stopped
from svd.storage import ObjectStore
from video_gateway import handlers
from video_gateway.cancel import Canceller
from video_gateway.keypool import KeyCipher, KeyPool
from video_gateway.metered import MeteredProvider
from video_gateway.outbound import Outbound
from video_gateway.poll import Poller
from video_gateway.polling import PollSchedule
from video_gateway.pooled import PooledProvider
from video_gateway.providers import kling
from video_gateway.providers.base import VideoProvider
from video_gateway.providers.kling import KlingProvider
from video_gateway.providers.runway import RunwayProvider
from video_gateway.repository import Submissions
from video_gateway.selection import submit_order
from video_gateway.settings import GatewaySettings
from video_gateway.submit import ImageOptions, Submitter

VERSIONS = Path(__file__).parent / "migrations" / "versions"
log = logging.getLogger(__name__)


def adapters(
    settings: GatewaySettings,
    runway_http: httpx.AsyncClient,
    runway_submits: httpx.AsyncClient,
    kling_submits: httpx.AsyncClient,
) -> dict[str, VideoProvider]:
    """Every provider that has at least one key configured."""
    found: dict[str, VideoProvider] = {}
    if settings.keys("runway"):
        found["runway"] = RunwayProvider(
            runway_http,
            models=settings.runway_models(),
            version=settings.runway_api_version,
            submit_client=runway_submits,
        )
    if settings.keys("kling"):
        found["kling"] = KlingProvider(
            kling_submits,
            endpoint=settings.kling_endpoint,
            negative_prompt=settings.kling_negative_prompt,
            cfg_scale=settings.kling_cfg_scale,
            timeout_s=settings.provider_timeout_s,
        )
    return found


def runway_client(settings: GatewaySettings) -> httpx.AsyncClient:
    """The HTTP client of Runway calls: httpx's interface over aiohttp's connection pool, traced.

    httpx's own pool (httpcore on anyio) cost about 1.3 ms of CPU per request and scans every pooled connection on
    each one; the aiohttp transport costs about 0.3 ms. At 10,000 jobs in flight the status checks alone are 333
    requests a second, so this is most of what separates a gateway that keeps its schedule from one that drifts."""
    # One connection per concurrent check stays alive, so checks never queue for (or reopen) connections.
    limits = httpx.Limits(
        max_connections=settings.video_poll_concurrency + 16,
        max_keepalive_connections=settings.video_poll_concurrency + 16,
    )
    return httpx.AsyncClient(
        base_url=settings.runway_base_url,
        timeout=settings.provider_timeout_s,
        limits=limits,
        transport=AsyncOpenTelemetryTransport(AiohttpTransport(limits=limits)),
    )


def runway_submit_client(settings: GatewaySettings) -> httpx.AsyncClient:
    """The HTTP client of Runway submits: httpx's own transport, whose errors tell a request that never left
    (`ConnectError`, `ConnectTimeout`, `PoolTimeout`) from one that did; aiohttp's transport reports a connection
    dropped after sending as a connect timeout. A long read timeout of its own (see `RUNWAY_SUBMIT_TIMEOUT_S`)."""
    connect = settings.provider_connect_timeout_s
    return httpx.AsyncClient(
        base_url=settings.runway_base_url,
        timeout=httpx.Timeout(settings.runway_submit_timeout_s, connect=connect, pool=connect),
        transport=AsyncOpenTelemetryTransport(httpx.AsyncHTTPTransport()),
    )


async def main(stop: asyncio.Event) -> None:
    settings = GatewaySettings()  # type: ignore[call-arg]
    configured = [name for name in ("runway", "kling") if settings.keys(name)]
    if settings.provider_key_encryption_key:
        cipher = KeyCipher(settings.provider_key_encryption_key)  # fails fast on a malformed KEK
    else:
        cipher = KeyCipher.ephemeral()
        if configured:
            log.warning(
                "PROVIDER_KEY_ENCRYPTION_KEY is not set: provider keys are stored encrypted with a throwaway key, "
                "so only replicas configured with a key can use it"
            )
    await db.migrate(settings.database_url, "video_gateway", VERSIONS)
    engine = db.create_engine(settings.database_url, settings.database_pool_size)
    broker = make_broker(settings, "video-gateway", settings.shutdown_grace_s)
    publisher = EventPublisher(broker)
    outbound = Outbound(publisher)
    try:
        async with (
            # Per-call writes a crash may lose harmlessly: key leases and cooldowns, usage, check counters.
            open_pool(
                settings.database_url, settings.database_relaxed_pool_size, "video-gateway", durable=False
            ) as relaxed,
            ObjectStore.open(settings) as store,
            runway_client(settings) as runway_http,
            runway_submit_client(settings) as runway_submits,
            kling.submit_client(settings.kling_submit_timeout_s, settings.provider_connect_timeout_s) as kling_submits,
        ):
            pool = KeyPool(
                relaxed,
                cipher,
                default_cooldown_s=settings.provider_key_cooldown_s,
                max_buffered_usage=settings.key_usage_buffer_max,
            )
            for name in configured:
                await pool.sync(name, settings.keys(name))
            found = adapters(settings, runway_http, runway_submits, kling_submits)
            providers = {
                name: PooledProvider(
                    MeteredProvider(found[name]),
                    pool,
                    submit_attempts=settings.provider_submit_attempts,
                    submit_deadline_s=settings.provider_submit_deadline_s,
                )
                for name in submit_order(found)
            }
            log.info("video providers, in order: %s", ", ".join(providers) or "none")
            submissions = Submissions(db.session_factory(engine), relaxed)
            schedule = PollSchedule(
                settings.video_poll_initial_delay_s,
                settings.video_poll_interval_s,
                settings.video_poll_max_attempts,
                settings.video_poll_queue_max_s,
            )
            image = ImageOptions(
                settings.prompt_image, settings.still_url_ttl_s, settings.prompt_image_max_data_uri_bytes
            )
            submitter = Submitter(
                submissions,
                list(providers.values()),
                store,
                outbound,
                image,
                claim_stale_after_s=settings.submit_claim_stale_after_s(providers),
                record_budget_s=settings.submit_record_budget_s,
                max_in_flight={name: settings.max_in_flight(name) for name in providers},
                slot_recheck_s=settings.provider_slot_recheck_s,
            )
            handlers.register(
                broker,
                submitter,
                Poller(submissions, providers, outbound, schedule),
                Canceller(submissions, providers),
                publisher,
                poll_concurrency=settings.video_poll_concurrency,
                policy=settings.retry_policy(),
            )
            flusher = asyncio.create_task(pool.run_flusher(stop, retention_s=settings.key_usage_retention_days * 86400))
            try:
                await serve_until_stopped(settings, stop, broker=broker)
            finally:
                stop.set()
                await flusher
    finally:
        await engine.dispose()
