"""An httpx transport that resolves once, checks, and connects to exactly the addresses that were checked.

Checking a host's addresses and then letting the HTTP library resolve it again to connect leaves a gap a DNS answer
can change in (DNS rebinding: public at the check, 127.0.0.1 or 169.254.169.254 at the connect). Here the check is
part of connecting: httpcore hands every new connection's host to `GuardedNetworkBackend`, which resolves it,
refuses it unless every address passes the policy (`addresses.checked_addresses`), and opens the TCP connection to
those IP addresses; TLS still verifies the certificate against the host name (httpcore passes it as the server name).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from svd.netguard.addresses import AddressPolicy, AddressRefused, Resolver, checked_addresses, system_resolver


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """TCP connections only to checked addresses of the requested host; no Unix sockets."""

    def __init__(
        self,
        policy: AddressPolicy,
        resolve: Resolver = system_resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._policy = policy
        self._resolve = resolve
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await checked_addresses(host, port, self._policy, self._resolve)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused(f"refusing to {self._policy.action} a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (request and error mapping, instrumentation) over a pool on the guarded backend."""

    def __init__(
        self,
        backend: GuardedNetworkBackend,
        *,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits | None = None,
    ) -> None:
        super().__init__(verify=verify)
        limits = limits or httpx.Limits()
        # httpx builds its pool without a way to pass a network backend; this is the same pool with ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


def guarded_client(
    timeout_s: float,
    policy: AddressPolicy,
    resolve: Resolver = system_resolver,
    *,
    verify: ssl.SSLContext | bool = True,
    limits: httpx.Limits | None = None,
) -> httpx.AsyncClient:
    """An httpx client that never follows redirects and connects only to addresses `policy` allows."""
    transport = GuardedTransport(GuardedNetworkBackend(policy, resolve), verify=verify, limits=limits)
    return httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, transport=transport)
