"""Provisioning the JetStream topology (`svd.bus.topology`): every stream and durable consumer, idempotently.

Streams get `NATS_STREAM_REPLICAS` replicas (1 on a single server, 3 on a production cluster); running it again with
more raises the replicas of existing streams (their consumers follow the stream). On a cluster that has just started
the JetStream API answers only once the nodes have elected a meta leader, and a stream just created or scaled takes
writes only once its own group has a leader: both are waited for, within `wait_s`.

Run by the dev stack, and on a cluster as a one-shot job: `python -m svd.bus.provision` (NATS_URL and the
credentials of `svd.bus.connection`, of a user allowed to manage streams).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import nats
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError, ServiceUnavailableError
from pydantic import Field

from svd.bus.connection import NatsSettings, connect_options, servers
from svd.bus.permissions import PROVISIONER
from svd.bus.topology import CONSUMERS, STREAMS, ConsumerSpec

log = logging.getLogger(__name__)

# Not ready yet: no meta leader (503, or no answer at all), or the stream's group has no leader.
_NOT_YET = (ServiceUnavailableError, nats.errors.NoRespondersError, nats.errors.TimeoutError, TimeoutError)


class ProvisionSettings(NatsSettings):
    nats_stream_replicas: int = Field(default=1, ge=1, le=5)


async def _until_ready(what: str, wait_s: float, attempt: Callable[[], Awaitable[object]]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        try:
            await attempt()
            return
        except _NOT_YET as exc:
            if loop.time() > deadline:
                raise TimeoutError(f"{what}: JetStream not ready after {wait_s:.0f} s ({exc!r})") from exc
            await asyncio.sleep(0.5)


async def _ensure_stream(js: JetStreamContext, name: str, replicas: int, wait_s: float) -> None:
    config = next(stream for stream in STREAMS if stream.name == name).config(replicas)

    async def put() -> None:
        try:
            await js.stream_info(name)
            await js.update_stream(config)
        except NotFoundError:
            await js.add_stream(config)

    async def led() -> None:
        info = await js.stream_info(name)
        peers = info.cluster.replicas if info.cluster is not None else None
        if replicas > 1 and (info.cluster is None or not info.cluster.leader or len(peers or []) < replicas - 1):
            raise TimeoutError(f"stream {name} has no leader with {replicas} replicas yet")

    await _until_ready(f"stream {name}", wait_s, put)
    await _until_ready(f"stream {name} leader", wait_s, led)


async def _ensure_consumer(js: JetStreamContext, spec: ConsumerSpec, wait_s: float) -> None:
    async def put() -> None:
        await js.add_consumer(spec.stream, spec.config())

    await _until_ready(f"consumer {spec.durable}", wait_s, put)


async def provision(
    nats_url: str | Sequence[str], replicas: int = 1, *, wait_s: float = 60.0, **connect: object
) -> None:
    """Create or update every stream (with `replicas` replicas) and consumer of the topology (safe to run
    concurrently and repeatedly). `connect` goes to `nats.connect` (credentials, TLS)."""
    urls, user, password = servers(nats_url if isinstance(nats_url, str) else ",".join(nats_url))
    if user:
        connect = {"user": user, "password": password, **connect}
    nc = await nats.connect(urls, name="svd-provision", **connect)  # type: ignore[arg-type]
    try:
        js = nc.jetstream()
        for stream in STREAMS:
            await _ensure_stream(js, stream.name, replicas, wait_s)
        await asyncio.gather(*(_ensure_consumer(js, spec, wait_s) for spec in CONSUMERS))
    finally:
        await nc.drain()


async def _main() -> None:
    settings = ProvisionSettings()  # type: ignore[call-arg]
    options = connect_options(settings, PROVISIONER)
    urls = options.pop("servers")
    options.pop("name")
    await provision(urls, settings.nats_stream_replicas, **options)
    log.info(
        "topology provisioned: %d streams at %d replicas, %d consumers",
        len(STREAMS),
        settings.nats_stream_replicas,
        len(CONSUMERS),
    )


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_main())
