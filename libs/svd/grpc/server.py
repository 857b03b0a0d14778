"""gRPC server bootstrap: grpc.aio with health, reflection, API-key auth and one error-to-status mapping.

Every server built here serves `grpc.health.v1` and server reflection (so `grpcurl` works without protos), checks
the bearer key of every other call, and turns `DomainError`s into status codes in one place.

Only health is open: Kubernetes' gRPC probes and load balancers send no metadata, and a health answer reveals
nothing. Reflection describes the whole API, so it needs a key like any call (`grpcurl -H "authorization: Bearer …"`
sends it to reflection too).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from svd.grpc.auth import KeyStore, current_principal
from svd.grpc.policy import authenticate as authenticate_caller
from svd.grpc.policy import failure_of

log = logging.getLogger(__name__)

OPEN_PREFIXES = ("/grpc.health.v1.Health/",)


@dataclass(frozen=True)
class ServiceBinding:
    """One servicer and how to add it to a server (`add_XServicer_to_server`) plus its full name; with `connect`
    (the generated `XASGIApplication`), the service's HTTP listener serves it over Connect too (`svd.grpc.connect`):
    every method, or those named in `connect_methods`."""

    add: Callable[[Any, grpc.aio.Server], None]
    servicer: Any
    full_name: str
    connect: Callable[..., Any] | None = None
    connect_methods: frozenset[str] | None = None


class AuthAndErrorsInterceptor(grpc.aio.ServerInterceptor):
    """Authenticates every call but health checks and maps domain errors to status codes.

    The wrapped handler is built once per method and authenticates from each call's own metadata, so a call pays
    for the key lookup (cached by the key store) and nothing else.
    """

    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = details.method  # type: ignore[attr-defined]
        if method.startswith(OPEN_PREFIXES):
            return await continuation(details)
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = await continuation(details)
            if handler is None:
                return handler
            wrapped = self._wrapped[method] = _wrap(handler, self._keys, method)
        return wrapped


def _wrap(handler: grpc.RpcMethodHandler, keys: KeyStore, method: str) -> grpc.RpcMethodHandler:
    """The same handler, authenticating first and mapping domain errors; every RPC shape is covered, so no method
    (reflection is bidirectional streaming) can slip through unauthenticated."""

    async def authenticate(context: grpc.aio.ServicerContext) -> None:
        metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        try:
            current_principal.set(await authenticate_caller(keys, metadata))
        except Exception as exc:  # noqa: BLE001 - abort_with re-raises what it does not map
            await abort_with(context, exc)

    async def abort_with(context: grpc.aio.ServicerContext, exc: Exception) -> NoReturn:
        """A domain error or an infrastructure failure becomes its status (`svd.grpc.policy`); anything else (a
        bug, or an abort of the handler's own) goes on as it is."""
        failure = failure_of(exc, method)
        if failure is not None:
            await context.abort(grpc.StatusCode[failure.status], failure.message)
        raise exc

    serialization = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary:
        inner_unary = handler.unary_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await authenticate(context)
            try:
                return await inner_unary(request, context)
            except Exception as exc:  # noqa: BLE001 - abort_with re-raises what it does not map
                await abort_with(context, exc)

        return grpc.unary_unary_rpc_method_handler(unary, **serialization)
    if handler.unary_stream:
        inner_stream = handler.unary_stream

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await authenticate(context)
            try:
                async for item in inner_stream(request, context):
                    yield item
            except Exception as exc:  # noqa: BLE001 - abort_with re-raises what it does not map
                await abort_with(context, exc)

        return grpc.unary_stream_rpc_method_handler(stream, **serialization)
    if handler.stream_unary:
        inner_client_stream = handler.stream_unary

        async def client_stream(requests: Any, context: grpc.aio.ServicerContext) -> Any:
            await authenticate(context)
            try:
                return await inner_client_stream(requests, context)
            except Exception as exc:  # noqa: BLE001 - abort_with re-raises what it does not map
                await abort_with(context, exc)

        return grpc.stream_unary_rpc_method_handler(client_stream, **serialization)
    inner_bidi = handler.stream_stream

    async def bidi(requests: Any, context: grpc.aio.ServicerContext) -> Any:
        await authenticate(context)
        try:
            async for item in inner_bidi(requests, context):
                yield item
        except Exception as exc:  # noqa: BLE001 - abort_with re-raises what it does not map
            await abort_with(context, exc)

    return grpc.stream_stream_rpc_method_handler(bidi, **serialization)


def tls_credentials(cert_file: str, key_file: str) -> grpc.ServerCredentials | None:
    """Server credentials from a PEM certificate chain and key, or None (plaintext) when neither is set."""
    if not cert_file and not key_file:
        return None
    return grpc.ssl_server_credentials([(Path(key_file).read_bytes(), Path(cert_file).read_bytes())])


@dataclass(frozen=True)
class RunningServers:
    """The service's gRPC server and, when asked for, its plaintext health-only twin; stopped together."""

    main: grpc.aio.Server
    health_only: grpc.aio.Server | None = None

    async def stop(self, grace: float | None) -> None:
        if self.health_only is not None:
            await self.health_only.stop(grace)
        await self.main.stop(grace)


async def start_server(
    listen: str,
    bindings: Sequence[ServiceBinding],
    keys: KeyStore,
    credentials: grpc.ServerCredentials | None = None,
    health_listen: str = "",
) -> RunningServers:
    """Start a server on `listen` with the bindings, health (all SERVING, open) and reflection (needs a key);
    TLS with `credentials` (see `tls_credentials`), else plaintext. With `health_listen`, a second, plaintext server
    there answers grpc.health.v1 only, from the same statuses (for probes that cannot speak TLS)."""
    server = grpc.aio.server(interceptors=[AuthAndErrorsInterceptor(keys)])
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for binding in bindings:
        binding.add(binding.servicer, server)
    names = [b.full_name for b in bindings] + [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
    reflection.enable_server_reflection([*names, reflection.SERVICE_NAME], server)
    bound = server.add_insecure_port(listen) if credentials is None else server.add_secure_port(listen, credentials)
    if bound == 0:
        raise RuntimeError(f"cannot bind gRPC server to {listen}")
    await server.start()
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info(
        "gRPC server listening on %s%s (%s)",
        listen,
        "" if credentials is None else " (TLS)",
        ", ".join(b.full_name for b in bindings) or "health only",
    )
    if not health_listen:
        return RunningServers(server)
    return RunningServers(server, await _start_health_only(health_listen, health_servicer))


async def _start_health_only(listen: str, health_servicer: health.aio.HealthServicer) -> grpc.aio.Server:
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if server.add_insecure_port(listen) == 0:
        raise RuntimeError(f"cannot bind the gRPC health listener to {listen}")
    await server.start()
    log.info("gRPC health-only listener on %s (plaintext)", listen)
    return server
