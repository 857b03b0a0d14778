"""Media-store wiring: settings, database, object store, HTTP client, bus handler and the Media gRPC API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from media_store.servicer import MediaServicer
from media_store.settings import MediaSettings
from media_store.usecases import MediaStore
from social_video.v1 import media_pb2, media_pb2_grpc, pipeline_pb2
from svd import db
from svd.bus import topology
from svd.bus.broker import make_broker
from svd.bus.consumer import Delivery, Outcome, subscribe
from svd.bus.publisher import EventPublisher
from svd.grpc.server import ServiceBinding
from svd.runtime import serve_until_stopped
from svd.storage import ObjectStore

VERSIONS = Path(__file__).parent / "migrations" / "versions"


async def main(stop: asyncio.Event) -> None:
    settings = MediaSettings()  # type: ignore[call-arg]
    await db.migrate(settings.database_url, "media", VERSIONS)
    engine = db.create_engine(settings.database_url, settings.database_pool_size)
    sessions = db.session_factory(engine)
    broker = make_broker(settings.nats_url, "media-store")
    publisher = EventPublisher(broker)
    try:
        async with (
            ObjectStore.open(settings) as store,
            httpx.AsyncClient(timeout=settings.download_timeout_s, follow_redirects=False) as http,
        ):
            use_cases = MediaStore(
                sessions,
                store,
                http,
                publisher,
                settings.max_video_bytes,
                settings.part_size_bytes,
                settings.parts_in_flight,
                settings.download_attempts,
            )

            async def on_ready(delivery: Delivery[pipeline_pb2.VideoReady]) -> Outcome:
                return await use_cases.video_ready(delivery.message)

            subscribe(
                broker,
                topology.consumer("media-store-ready"),
                pipeline_pb2.VideoReady,
                on_ready,
                publisher,
                max_workers=2,
            )
            await serve_until_stopped(
                settings,
                stop,
                [
                    ServiceBinding(
                        media_pb2_grpc.add_MediaServicer_to_server,
                        MediaServicer(sessions, store, settings.download_url_ttl_s),
                        media_pb2.DESCRIPTOR.services_by_name["Media"].full_name,
                    )
                ],
                broker=broker,
            )
    finally:
        await engine.dispose()
