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
}


class _BearerInterceptor(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, api_key: str) -> None:
        self._metadata = (("authorization", f"Bearer {api_key}"),)

    def _with_key(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()), *self._metadata)
        return details._replace(metadata=metadata)  # type: ignore[attr-defined,no-any-return]

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._with_key(details), request)

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._with_key(details), request)


def channel(target: str, api_key: str) -> grpc.aio.Channel:
    """An insecure channel (in-cluster / loopback traffic) that authenticates every call with `api_key`."""
    return grpc.aio.insecure_channel(target, interceptors=[_BearerInterceptor(api_key)])


def translate(exc: grpc.aio.AioRpcError) -> errors.DomainError:
    """The domain error a failed call stands for; transport failures become `Unavailable`."""
    kind = _ERROR_OF.get(exc.code(), errors.Unavailable)
    return kind(exc.details() or exc.code().name)
