"""Video-gateway wiring: settings, database, object store, provider clients, bus handlers, health server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from social_video.v1 import common_pb2 as c
from svd import db
from svd.bus.broker import make_broker
from svd.bus.publisher import EventPublisher
from svd.runtime import serve_until_stopped
from svd.storage import ObjectStore
from video_gateway import handlers
from video_gateway.polling import PollSchedule
from video_gateway.providers.base import VideoProvider
from video_gateway.providers.runway import RunwayProvider
from video_gateway.settings import GatewaySettings
from video_gateway.usecases import Gateway

VERSIONS = Path(__file__).parent / "migrations" / "versions"


async def main(stop: asyncio.Event) -> None:
    settings = GatewaySettings()  # type: ignore[call-arg]
    await db.migrate(settings.database_url, "video_gateway", VERSIONS)
    engine = db.create_engine(settings.database_url, settings.database_pool_size)
    broker = make_broker(settings.nats_url, "video-gateway")
    publisher = EventPublisher(broker)
    try:
        async with (
            ObjectStore.open(settings) as store,
            httpx.AsyncClient(base_url=settings.runway_base_url, timeout=settings.provider_timeout_s) as runway_http,
        ):
            providers: dict[int, VideoProvider] = {}
            if settings.runway_api_key:
                providers[c.VIDEO_PROVIDER_RUNWAY] = RunwayProvider(
                    runway_http,
                    api_key=settings.runway_api_key,
                    model=settings.runway_model,
                    ratio_portrait=settings.runway_ratio_portrait,
                    ratio_square=settings.runway_ratio_square,
                    version=settings.runway_api_version,
                    submit_attempts=settings.provider_submit_attempts,
                )
            gateway = Gateway(
                db.session_factory(engine),
                providers,
                next(iter(providers), None),
                store,
                publisher,
                PollSchedule(
                    settings.video_poll_initial_delay_s,
                    settings.video_poll_interval_s,
                    settings.video_poll_max_attempts,
                ),
                settings.still_url_ttl_s,
            )
            handlers.register(broker, gateway, publisher)
            await serve_until_stopped(settings, stop, broker=broker)
    finally:
        await engine.dispose()
