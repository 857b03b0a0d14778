"""Media-store wiring: settings, database, object store, HTTP client, bus handler and the Media gRPC API."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import httpx

from media_store.servicer import MediaServicer
from media_store.settings import MediaSettings
from media_store.usecases import MediaStore, TransferConfig
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
log = logging.getLogger(__name__)


def transfer_config(settings: MediaSettings) -> TransferConfig:
    return TransferConfig(
        max_bytes=settings.max_video_bytes,
        part_size=settings.part_size_bytes,
        parts_in_flight=settings.parts_in_flight,
        attempts=settings.download_attempts,
        backoff_s=settings.download_backoff_s,
        deadline_s=settings.download_deadline_s,
        heartbeat_s=settings.heartbeat_s,
        allowed_hosts=settings.download_allowed_hosts,
        allow_loopback_http=settings.download_allow_loopback_http,
    )


async def sweep_stale_uploads(store: ObjectStore, older_than_s: float) -> None:
    """Abort multipart uploads a crashed process left behind (older than any live transfer can be)."""
    try:
        aborted = await store.abort_uploads("tenants/", older_than=timedelta(seconds=older_than_s))
    except Exception:
        log.warning("could not sweep stale multipart uploads", exc_info=True)
        return
    for upload in aborted:
        log.info("aborted stale multipart upload of %s (started %s)", upload.key, upload.initiated)


async def main(stop: asyncio.Event) -> None:
    settings = MediaSettings()  # type: ignore[call-arg]
    await db.migrate(settings.database_url, "media", VERSIONS)
    engine = db.create_engine(settings.database_url, settings.database_pool_size)
    sessions = db.session_factory(engine)
    broker = make_broker(settings.nats_url, "media-store", settings.shutdown_grace_s)
    publisher = EventPublisher(broker)
    try:
        async with (
            ObjectStore.open(
                settings, max_attempts=settings.store_call_attempts, part_attempts=settings.store_part_attempts
            ) as store,
            httpx.AsyncClient(timeout=settings.download_timeout_s, follow_redirects=False) as http,
        ):
            await sweep_stale_uploads(store, settings.stale_upload_s)
            use_cases = MediaStore(sessions, store, http, publisher, transfer_config(settings))

            async def on_ready(delivery: Delivery[pipeline_pb2.VideoReady]) -> Outcome:
                return await use_cases.video_ready(delivery.message, delivery.in_progress)

            subscribe(
                broker,
                topology.consumer("media-store-ready"),
                pipeline_pb2.VideoReady,
                on_ready,
                publisher,
                policy=settings.retry_policy(),
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
