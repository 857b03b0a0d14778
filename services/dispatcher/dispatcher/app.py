"""Dispatcher wiring: settings, database, object store, gRPC clients and server, bus handlers, the deadline sweeper
and the webhook worker, and the admission loop."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from dispatcher import handlers
from dispatcher.admission import ADMISSION_CHANNEL, QUEUE_TOPIC, Admission, run_admission
from dispatcher.console import console_app
from dispatcher.operations import DeadLetters, DeadLetterStore, OperationsServicer
from dispatcher.outbound import Outbound
from dispatcher.ports import BillingClient, MediaClient
from dispatcher.retry import JobRetries
from dispatcher.review import PostsServicer, VideoReviews
from dispatcher.servicer import BrandsServicer, VideoJobsServicer
from dispatcher.settings import DispatcherSettings
from dispatcher.sweeper import run_sweeper
from dispatcher.usecases import JobLifecycle, PipelineEvents, Recovery, UpstreamEvents
from dispatcher.watch import JobEventFeed, JobWatch
from dispatcher.webhooks import Deliverer, Fanout, Sender, WebhooksServicer, WebhookWorker, listen, media_lookup
from dispatcher.webhooks.domain import address_policy
from social_video.v1 import (
    brands_connect,
    brands_pb2,
    brands_pb2_grpc,
    jobs_connect,
    jobs_pb2,
    jobs_pb2_grpc,
    operations_connect,
    operations_pb2,
    operations_pb2_grpc,
    posts_connect,
    posts_pb2,
    posts_pb2_grpc,
    webhooks_connect,
    webhooks_pb2,
    webhooks_pb2_grpc,
)
from svd import db
from svd.bus.broker import make_broker
from svd.bus.publisher import EventPublisher
from svd.cipher import SecretCipher
from svd.grpc.client import channel
from svd.grpc.server import ServiceBinding
from svd.netguard import guarded_session
from svd.runtime import serve_until_stopped
from svd.storage import ObjectStore

VERSIONS = Path(__file__).parent / "migrations" / "versions"
log = logging.getLogger(__name__)


class WebhookSecretCipher(SecretCipher):
    setting = "WEBHOOK_SECRET_ENCRYPTION_KEY"


def webhook_cipher(settings: DispatcherSettings) -> SecretCipher | None:
    if not settings.webhook_secret_encryption_key:
        log.warning("WEBHOOK_SECRET_ENCRYPTION_KEY is not set: the Webhooks API cannot create endpoints")
        return None
    return WebhookSecretCipher(settings.webhook_secret_encryption_key)  # fails fast on a malformed key


async def main(stop: asyncio.Event) -> None:
    settings = DispatcherSettings()  # type: ignore[call-arg]
    cipher = webhook_cipher(settings)
    await db.migrate(settings.database_url, "dispatcher", VERSIONS)
    engine = db.create_engine(settings.database_url, settings.database_pool_size)
    sessions = db.session_factory(engine)
    billing_channel = channel(settings.billing_grpc_target, settings.svd_service_api_key, settings.grpc_tls_ca)
    media_channel = channel(settings.media_grpc_target, settings.svd_service_api_key, settings.grpc_tls_ca)
    broker = make_broker(settings, "dispatcher", settings.shutdown_grace_s)
    publisher = EventPublisher(broker)
    hooks_policy = address_policy(settings.webhooks_allow_private)
    hooks_client = guarded_session(hooks_policy, limit=settings.webhook_max_in_flight)
    try:
        async with (
            ObjectStore.open(settings) as store,
            JobEventFeed.open(settings.database_url, settings, {ADMISSION_CHANNEL: QUEUE_TOPIC}) as feed,
            DeadLetterStore.open(settings, "dispatcher") as letters,
        ):
            lifecycle = JobLifecycle(
                sessions,
                BillingClient(billing_channel),
                MediaClient(media_channel),
                publisher,
                Outbound(publisher),
                settings.hold_ttl_s,
                settings.job_deadline_s,
                settings.provider_prices,
            )
            recovery = Recovery(lifecycle)
            admission = Admission(lifecycle, settings)
            handlers.register(
                broker,
                UpstreamEvents(lifecycle, admission.shortfall, settings.admission_queue_max_wait_s),
                PipelineEvents(lifecycle),
                recovery,
                publisher,
                settings.retry_policy(),
            )
            hooks = WebhookWorker(
                sessions,
                Fanout(
                    sessions,
                    media_lookup(store, settings.webhook_media_url_ttl_s),
                    settings.webhook_progress_interval_s,
                ),
                Deliverer(
                    sessions,
                    Sender(hooks_client, hooks_policy, settings.webhook_timeout_s, settings.webhook_response_cap_bytes),
                    cipher,
                    settings,
                ),
                publisher,
                settings,
            )
            hooks_task = asyncio.create_task(hooks.run(stop))
            hooks_listener = asyncio.create_task(listen(settings.database_url, hooks.wake, stop))
            sweeper = asyncio.create_task(
                run_sweeper(
                    recovery, settings.deadline_sweep_interval_s, settings.processed_events_retention_days * 86400, stop
                )
            )
            admitting = asyncio.create_task(run_admission(admission, feed, stop))
            try:
                await serve_until_stopped(
                    settings,
                    stop,
                    [
                        ServiceBinding(
                            jobs_pb2_grpc.add_VideoJobsServicer_to_server,
                            VideoJobsServicer(
                                sessions,
                                lifecycle,
                                JobWatch(sessions, feed, settings, QUEUE_TOPIC),
                                JobRetries(lifecycle),
                                store,
                            ),
                            jobs_pb2.DESCRIPTOR.services_by_name["VideoJobs"].full_name,
                            jobs_connect.VideoJobsASGIApplication,
                        ),
                        ServiceBinding(
                            posts_pb2_grpc.add_PostsServicer_to_server,
                            PostsServicer(VideoReviews(sessions, publisher)),
                            posts_pb2.DESCRIPTOR.services_by_name["Posts"].full_name,
                            posts_connect.PostsASGIApplication,
                        ),
                        ServiceBinding(
                            brands_pb2_grpc.add_BrandsServicer_to_server,
                            BrandsServicer(sessions, store, settings.brand_logo_max_pixels),
                            brands_pb2.DESCRIPTOR.services_by_name["Brands"].full_name,
                            brands_connect.BrandsASGIApplication,
                        ),
                        ServiceBinding(
                            operations_pb2_grpc.add_OperationsServicer_to_server,
                            OperationsServicer(DeadLetters(sessions, letters), sessions),
                            operations_pb2.DESCRIPTOR.services_by_name["Operations"].full_name,
                            operations_connect.OperationsASGIApplication,
                        ),
                        ServiceBinding(
                            webhooks_pb2_grpc.add_WebhooksServicer_to_server,
                            WebhooksServicer(sessions, cipher, settings, hooks.wake.set),
                            webhooks_pb2.DESCRIPTOR.services_by_name["Webhooks"].full_name,
                            webhooks_connect.WebhooksASGIApplication,
                        ),
                    ],
                    broker=broker,
                    http_fallback=console_app(settings),
                )
            finally:
                stop.set()
                await sweeper
                await hooks_task
                await hooks_listener
                await admitting
    finally:
        await hooks_client.close()
        await billing_channel.close()
        await media_channel.close()
        await engine.dispose()
