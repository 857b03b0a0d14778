"""Media-store wiring: settings, database, object store, HTTP client, bus handler, sweeps and the Media gRPC API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from media_store.conform.step import ConformConfig, Conformer
from media_store.conform.transcode import EncoderSettings
from media_store.leases import Leases
from media_store.pinning import download_client
from media_store.records import Records
from media_store.servicer import MediaServicer
from media_store.settings import MediaSettings
from media_store.sweeps import Sweeps
from media_store.usecases import MediaStore, TransferConfig
from social_video.v1 import media_connect, media_pb2, media_pb2_grpc, pipeline_pb2
from svd import db
from svd.bus import topology
from svd.bus.broker import make_broker
from svd.bus.consumer import Delivery, Outcome, subscribe
from svd.bus.publisher import EventPublisher
from svd.grpc.server import ServiceBinding
from svd.runtime import serve_until_stopped
from svd.storage import ObjectStore

VERSIONS = Path(__file__).parent / "migrations" / "versions"
# What a cancelled transfer still does before the process exits: abort its upload, release its lease.
CLEANUP_S = 10.0
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
        stored_url_ttl_s=settings.stored_url_ttl_s,
        retry_base_s=settings.bus_backoff_base_s,
        retry_cap_s=settings.bus_backoff_cap_s,
    )


def conform_config(settings: MediaSettings) -> ConformConfig:
    return ConformConfig(
        timeout_s=settings.conform_timeout_s,
        min_coverage=settings.conform_min_coverage,
        keep_original=settings.keep_original,
        encoder=EncoderSettings(preset=settings.conform_preset, threads=settings.conform_threads),
        temp_dir=settings.conform_temp_dir,
        part_size=settings.part_size_bytes,
        parts_in_flight=settings.parts_in_flight,
    )


async def main(stop: asyncio.Event) -> None:
    settings = MediaSettings()  # type: ignore[call-arg]
    await db.migrate(settings.database_url, "media", VERSIONS)
    engine = db.create_engine(settings.database_url, settings.database_pool_size)
    sessions = db.session_factory(engine)
    broker = make_broker(settings, "media-store", settings.shutdown_grace_s)
    publisher = EventPublisher(broker)
    records = Records(sessions)
    leases = Leases(sessions, settings.lease_ttl_s, settings.heartbeat_s)
    try:
        async with (
            ObjectStore.open(
                settings, max_attempts=settings.store_call_attempts, part_attempts=settings.store_part_attempts
            ) as store,
            download_client(settings.download_timeout_s, settings.download_allow_loopback_http) as http,
        ):
            sweeps = Sweeps(records, leases, store, settings.stale_upload_s)
            sweeping = asyncio.create_task(sweeps.run_forever(settings.media_sweep_interval_s))
            conformer = Conformer(store, conform_config(settings))
            use_cases = MediaStore(records, leases, store, http, publisher, transfer_config(settings), conformer)
            handling: set[asyncio.Task[object]] = set()

            async def on_ready(delivery: Delivery[pipeline_pb2.VideoReady]) -> Outcome:
                task = asyncio.current_task()
                assert task is not None
                handling.add(task)
                try:
                    return await use_cases.video_ready(delivery.message, delivery.in_progress, delivery.num_delivered)
                finally:
                    handling.discard(task)

            subscribe(
                broker,
                topology.consumer("media-store-ready"),
                pipeline_pb2.VideoReady,
                on_ready,
                publisher,
                policy=settings.retry_policy(),
                max_workers=2,
            )
            try:
                await serve_until_stopped(
                    settings,
                    stop,
                    [
                        ServiceBinding(
                            media_pb2_grpc.add_MediaServicer_to_server,
                            MediaServicer(sessions, store, settings.download_url_ttl_s),
                            media_pb2.DESCRIPTOR.services_by_name["Media"].full_name,
                            media_connect.MediaASGIApplication,
                        )
                    ],
                    broker=broker,
                )
            finally:
                sweeping.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeping
                if handling:  # transfers cancelled past the grace: let them abort their uploads, release leases
                    await asyncio.wait(handling, timeout=CLEANUP_S)
    finally:
        await engine.dispose()
