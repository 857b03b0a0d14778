"""Readiness probes (HTTP, gRPC health, PostgreSQL, S3) and the wait-until-ready loop.

Every probe is a single quick attempt that returns True/False and never raises;
`wait_ready` polls one with tenacity and gives up early if the process died.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import httpx
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_exponential

log = logging.getLogger(__name__)

Probe = Callable[[], bool]


class ProcessDied(Exception):
    """The process exited while we were waiting for it to become ready."""


@functools.cache
def plain_http() -> httpx.Client:
    """One client for plain-HTTP probes and control calls, without keep-alive (a probed server may be restarted under
    the same port). `httpx.get` builds a client, and with it a TLS context from the CA bundle, on every call: that
    was most of the CPU `svd up` spent waiting for a stack."""
    return httpx.Client(limits=httpx.Limits(max_keepalive_connections=0))


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """GET `url` answers 200."""
    try:
        return plain_http().get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def grpc_serving(target: str, timeout: float = 2.0) -> bool:
    """`grpc.health.v1.Health/Check` (service "") on `target` answers SERVING."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    try:
        with grpc.insecure_channel(target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
    except grpc.RpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def postgres_ok(host: str, port: int, dbname: str = "postgres", timeout: int = 2) -> bool:
    """A psycopg connection as `postgres` can run `select 1` (`host` may be the server's unix-socket directory)."""
    import psycopg

    try:
        with psycopg.connect(host=host, port=port, user="postgres", dbname=dbname, connect_timeout=timeout) as conn:
            conn.execute("select 1")
    except psycopg.Error:
        return False
    return True


def s3_client(endpoint: str, access_key: str, secret_key: str, region: str, timeout: float = 3.0) -> Any:
    """A boto3 S3 client for the embedded gateway (path-style, no retries)."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"max_attempts": 1},
        s3={"addressing_style": "path"},
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=config,
    )


def s3_ok(endpoint: str, access_key: str, secret_key: str, region: str) -> bool:
    """`list_buckets` with our credentials works."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        s3_client(endpoint, access_key, secret_key, region).list_buckets()
    except (BotoCoreError, ClientError):
        return False
    return True


def wait_ready(probe: Probe, *, timeout: float, alive: Callable[[], bool] = lambda: True) -> None:
    """Poll `probe` until it passes; raise TimeoutError after `timeout` s, ProcessDied if not `alive`."""

    def attempt() -> bool:
        if not alive():
            raise ProcessDied
        return probe()

    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_exponential(multiplier=0.05, max=0.5),
        retry=retry_if_result(lambda ok: not ok),
    )
    try:
        retrying(attempt)
    except RetryError:
        raise TimeoutError(f"not ready after {timeout:.0f}s") from None
