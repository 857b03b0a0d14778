"""gRPC clients of other services: a channel that sends the API key, balances over every replica and retries
a call a dead replica refused on another one; and status → domain error translation.

A target names one server (`host:port`), every replica (`ipv4:10.0.0.1:50051,10.0.0.2:50051`, what the dev stack
hands out) or a headless Kubernetes service (`dns:///billing-headless.svd.svc.cluster.local:50051`, whose name
resolves to every pod). Calls go round robin over all of them, and one that fails with UNAVAILABLE (the replica
died or is going away; the call never ran) is retried through gRPC's own retry policy, so a dead replica costs no job.
Plaintext by default (in-cluster, loopback); with a CA the channel is TLS and checks the server's certificate.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

from svd import errors

_ERROR_OF: dict[grpc.StatusCode, type[errors.DomainError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidArgument,
    grpc.StatusCode.NOT_FOUND: errors.NotFound,
    grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPrecondition,
    grpc.StatusCode.UNAUTHENTICATED: errors.Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDenied,
    # A peer's bug or corrupt state: retrying a few times is all that makes sense.
    grpc.StatusCode.UNKNOWN: errors.Internal,
    grpc.StatusCode.INTERNAL: errors.Internal,
    grpc.StatusCode.DATA_LOSS: errors.Internal,
    grpc.StatusCode.UNIMPLEMENTED: errors.Internal,
    # UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, CANCELLED: transient, `Unavailable` below.
}


def _with_key(details: grpc.aio.ClientCallDetails, key_metadata: tuple[tuple[str, str], ...]) -> Any:
    metadata = grpc.aio.Metadata(*(details.metadata or ()), *key_metadata)
    return details._replace(metadata=metadata)  # type: ignore[attr-defined]


# grpc.aio files each interceptor under one call type only, so each call type needs its own interceptor class.
class _UnaryUnaryBearer(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, api_key: str) -> None:
        self._metadata = (("authorization", f"Bearer {api_key}"),)

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_key(details, self._metadata), request)


class _UnaryStreamBearer(grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, api_key: str) -> None:
        self._metadata = (("authorization", f"Bearer {api_key}"),)

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_key(details, self._metadata), request)


# Round robin over every address the target resolves to; a call refused with UNAVAILABLE is tried again (on another
# replica: round robin skips a connection that failed) up to 5 times in all, the most gRPC allows, backing off
# 0.1 s, 0.2 s, 0.4 s, 0.8 s: enough for the channel to notice a killed replica and drop it from the rotation.
SERVICE_CONFIG = {
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [
        {
            "name": [{}],  # every method of every service
            "retryPolicy": {
                "maxAttempts": 5,
                "initialBackoff": "0.1s",
                "maxBackoff": "1s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ],
}

# gRPC's reconnect backoff grows to 120 s by default: a peer back after an outage stayed "unavailable" to its
# callers for up to two minutes. A peer restarts in seconds, so we look again at most every 5 s.
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.min_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 5000),
    ("grpc.enable_retries", 1),
    ("grpc.service_config", json.dumps(SERVICE_CONFIG)),
)


def target(addresses: str | Sequence[str]) -> str:
    """A channel target for one address (`host:port`, or a target such as `dns:///…` as it is) or for a list of
    replicas' IPv4 addresses (`ipv4:a:p1,b:p2`: the channel balances over them)."""
    if isinstance(addresses, str):
        return addresses
    if len(addresses) == 1:
        return addresses[0]
    return "ipv4:" + ",".join(addresses)


def channel(target: str, api_key: str, tls_ca: str = "") -> grpc.aio.Channel:
    """A channel to `target` (see `target`) that authenticates every call with `api_key`: plaintext, or TLS
    trusting the CA bundle at `tls_ca`."""
    interceptors = [_UnaryUnaryBearer(api_key), _UnaryStreamBearer(api_key)]
    if not tls_ca:
        return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS, interceptors=interceptors)
    credentials = grpc.ssl_channel_credentials(root_certificates=Path(tls_ca).read_bytes())
    return grpc.aio.secure_channel(target, credentials, options=CHANNEL_OPTIONS, interceptors=interceptors)


def translate(exc: grpc.aio.AioRpcError) -> errors.DomainError:
    """The domain error a failed call stands for; transport failures and overload become `Unavailable`."""
    kind = _ERROR_OF.get(exc.code(), errors.Unavailable)
    return kind(exc.details() or exc.code().name)
