"""gRPC clients of other services: a channel that sends the API key, and status → domain error translation."""

from __future__ import annotations

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


# gRPC's reconnect backoff grows to 120 s by default: a peer back after an outage stayed "unavailable" to its
# callers for up to two minutes. A peer restarts in seconds, so we look again at most every 5 s.
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.min_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 5000),
)


def channel(target: str, api_key: str) -> grpc.aio.Channel:
    """An insecure channel (in-cluster / loopback traffic) that authenticates every call with `api_key`."""
    return grpc.aio.insecure_channel(
        target, options=CHANNEL_OPTIONS, interceptors=[_UnaryUnaryBearer(api_key), _UnaryStreamBearer(api_key)]
    )


def translate(exc: grpc.aio.AioRpcError) -> errors.DomainError:
    """The domain error a failed call stands for; transport failures and overload become `Unavailable`."""
    kind = _ERROR_OF.get(exc.code(), errors.Unavailable)
    return kind(exc.details() or exc.code().name)
