"""The download client: httpx over `svd.netguard`'s transport, which resolves once, checks, and connects to exactly
the addresses it checked (no DNS rebinding between the check and the connect); redirects are followed by hand, hop
by hop, in `transfer`.
"""

from __future__ import annotations

import ssl

import httpcore
import httpx

from media_store.guards import address_policy
from svd import netguard
from svd.netguard import Resolver, system_resolver


class GuardedNetworkBackend(netguard.GuardedNetworkBackend):
    """The shared guarded backend with the download policy: public addresses, loopback only when allowed."""

    def __init__(
        self,
        allow_loopback: bool,
        resolve: Resolver = system_resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        super().__init__(address_policy(allow_loopback), resolve, inner)


def download_client(
    timeout_s: float, allow_loopback: bool, resolve: Resolver = system_resolver, verify: ssl.SSLContext | bool = True
) -> httpx.AsyncClient:
    """The client the media store downloads provider outputs with (redirects are followed by hand, hop by hop)."""
    return netguard.guarded_client(timeout_s, address_policy(allow_loopback), resolve, verify=verify)
