"""Connect RPC beside gRPC: the same servicers, reached over HTTP/1.1 with JSON or protobuf (browsers, `curl`).

Each `ServiceBinding` with a generated `XASGIApplication` (`connect`) is served by a handler object whose methods
call the gRPC servicer's own methods: the same use cases, the same tenant scoping (`svd.grpc.auth.principal`), the
same bearer-key check and the same failure → status mapping (`svd.grpc.policy`). A binding may expose only some
methods (`connect_methods`): the others answer UNIMPLEMENTED.

`start_http` runs the application with uvicorn on the service's own event loop (its signal handling stays the
service's): the Connect services by path (`/<package>.<Service>/<Method>`), anything else to `fallback` (the
dispatcher's console), else 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from connectrpc.code import Code
from connectrpc.errors import ConnectError
from google.protobuf import descriptor_pool

from svd.grpc.auth import KeyStore, current_principal
from svd.grpc.policy import authenticate, failure_of
from svd.grpc.server import ServiceBinding

log = logging.getLogger(__name__)

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def snake_case(method: str) -> str:
    """`GetJobEvents` → `get_job_events`: the name protoc-gen-connectrpc gives a method."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", method).lower()


def connect_error(exc: BaseException, method: str) -> ConnectError:
    """The Connect error a failed call answers with: a mapped failure as its status; a bug as INTERNAL without its
    text (it is logged here with its traceback)."""
    if isinstance(exc, ConnectError):
        return exc
    failure = failure_of(exc, method)
    if failure is None:
        log.error("%s failed", method, exc_info=exc)
        return ConnectError(Code.INTERNAL, "internal error")
    return ConnectError(Code[failure.status], failure.message)


async def _authenticate(keys: KeyStore, ctx: Any, method: str) -> None:
    headers = {name.lower(): value for name, value in ctx.request_headers.items()}
    try:
        current_principal.set(await authenticate(keys, headers))
    except Exception as exc:  # every failure becomes a Connect error
        raise connect_error(exc, method) from exc


def _unary(keys: KeyStore, call: Callable[..., Awaitable[Any]], method: str) -> Callable[..., Awaitable[Any]]:
    async def handle(request: Any, ctx: Any) -> Any:
        await _authenticate(keys, ctx, method)
        try:
            return await call(request, ctx)
        except Exception as exc:  # every failure becomes a Connect error
            raise connect_error(exc, method) from exc

    return handle


def _server_stream(keys: KeyStore, call: Callable[..., AsyncIterator[Any]], method: str) -> Callable[..., Any]:
    async def handle(request: Any, ctx: Any) -> AsyncIterator[Any]:
        await _authenticate(keys, ctx, method)
        try:
            async for item in call(request, ctx):
                yield item
        except Exception as exc:  # every failure becomes a Connect error
            raise connect_error(exc, method) from exc

    return handle


def _unimplemented(streaming: bool, method: str) -> Callable[..., Any]:
    error = ConnectError(Code.UNIMPLEMENTED, f"{method} is served over gRPC only")

    async def unary(request: Any, ctx: Any) -> Any:
        raise error

    async def stream(request: Any, ctx: Any) -> AsyncIterator[Any]:
        raise error
        yield  # pragma: no cover - makes this an async generator

    return stream if streaming else unary


class ServicerHandlers:
    """The Connect face of one gRPC servicer: one attribute per method, in protoc-gen-connectrpc's names."""

    def __init__(self, binding: ServiceBinding, keys: KeyStore) -> None:
        service = descriptor_pool.Default().FindServiceByName(binding.full_name)
        for described in service.methods:
            path = f"/{binding.full_name}/{described.name}"
            if described.client_streaming:
                raise ValueError(f"{path}: client streaming is not served over Connect")
            if binding.connect_methods is not None and described.name not in binding.connect_methods:
                handler = _unimplemented(described.server_streaming, path)
            elif described.server_streaming:
                handler = _server_stream(keys, getattr(binding.servicer, described.name), path)
            else:
                handler = _unary(keys, getattr(binding.servicer, described.name), path)
            setattr(self, snake_case(described.name), handler)


# What a browser on another origin may send and read (Connect's own headers, and gRPC-Web's for its clients).
CORS_ALLOW_HEADERS = b"authorization, content-type, connect-protocol-version, connect-timeout-ms, x-user-agent"
CORS_EXPOSE_HEADERS = b"grpc-status, grpc-message, grpc-status-details-bin"


@dataclass(frozen=True)
class Router:
    """Routes a request to the Connect application of its service by path, anything else to `fallback`; answers
    CORS for the browser origins in `cors_origins` (a dashboard served elsewhere, the console of another service)."""

    services: Mapping[str, ASGIApp]
    fallback: ASGIApp | None = None
    cors_origins: frozenset[str] = frozenset()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # nothing to set up: the handlers exist before the server starts
            return
        prefix = "/" + scope["path"].lstrip("/").split("/", 1)[0]
        app = self.services.get(prefix)
        origin = dict(scope.get("headers") or ()).get(b"origin", b"")
        if app is not None and origin and origin.decode("latin-1") in self.cors_origins:
            cors = [(b"access-control-allow-origin", origin), (b"vary", b"origin")]
            if scope["method"] == "OPTIONS":
                headers = [
                    *cors,
                    (b"access-control-allow-methods", b"POST, GET"),
                    (b"access-control-allow-headers", CORS_ALLOW_HEADERS),
                    (b"access-control-max-age", b"7200"),
                ]
                await send({"type": "http.response.start", "status": 204, "headers": headers})
                await send({"type": "http.response.body", "body": b""})
                return
            send = _with_headers(send, [*cors, (b"access-control-expose-headers", CORS_EXPOSE_HEADERS)])
        app = app or self.fallback
        if app is None:
            await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"not found"})
            return
        await app(scope, receive, send)


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    async def sending(message: Mapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *extra]}
        await send(message)

    return sending


def connect_app(
    bindings: Sequence[ServiceBinding],
    keys: KeyStore,
    fallback: ASGIApp | None = None,
    cors_origins: Sequence[str] = (),
) -> Router:
    """The ASGI application serving every binding that has a Connect application, and `fallback`."""
    services: dict[str, ASGIApp] = {}
    for binding in bindings:
        if binding.connect is not None:
            app = binding.connect(ServicerHandlers(binding, keys))
            services[app.path] = app
    return Router(services, fallback, frozenset(cors_origins))


def host_and_port(listen: str) -> tuple[str, int]:
    """`127.0.0.1:8080`, `[::]:8080` or `:8080` → host and port (an empty host is every interface)."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


class _Server(uvicorn.Server):
    """uvicorn on the service's loop: the service handles SIGTERM and stops it by `should_exit`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class HttpServer:
    server: uvicorn.Server
    task: asyncio.Task[None]

    async def stop(self, grace: float) -> None:
        """Stop taking connections, give open calls (a WatchJob stream) `grace` seconds, then close them."""
        self.server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self.task), grace)
        except TimeoutError:
            self.server.force_exit = True
            await self.task


async def start_http(listen: str, app: ASGIApp, grace: float) -> HttpServer:
    """Serve `app` on `listen` (host:port, plaintext HTTP/1.1) until `HttpServer.stop`."""
    host, port = host_and_port(listen)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=max(1, round(grace)),
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():  # it could not bind: say why
            task.result()
            raise RuntimeError(f"cannot serve HTTP on {listen}")
        await asyncio.sleep(0.02)
    log.info("Connect (HTTP/1.1) listening on %s", listen)
    return HttpServer(server, task)
