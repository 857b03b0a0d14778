"""An aiohttp client session that connects only to addresses the policy allows (for many small requests, such as
webhook deliveries, where aiohttp costs a fraction of httpx's CPU).

Host names go through `GuardedResolver`, which resolves them, refuses the host unless every address passes the
policy, and hands aiohttp exactly those addresses to connect to (the DNS cache is off, so every new connection is
checked again, and TLS still verifies the certificate against the name). aiohttp connects to literal addresses
without asking a resolver, so callers check a URL's literal host with `check_literal` before each request. The
session follows no redirects it is not told to, ignores proxy settings from the environment and keeps no cookies.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from svd.netguard.addresses import (
    AddressPolicy,
    AddressRefused,
    Resolver,
    address_problem,
    checked_addresses,
    literal_address,
    system_resolver,
)


class GuardedResolver(AbstractResolver):
    def __init__(self, policy: AddressPolicy, resolve: Resolver = system_resolver) -> None:
        self._policy = policy
        self._resolve = resolve

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await checked_addresses(host, port, self._policy, self._resolve)
        return [
            {
                "hostname": host,
                "host": str(ip),
                "port": port,
                "family": socket.AF_INET6 if isinstance(ip, ipaddress.IPv6Address) else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for ip in addresses
        ]

    async def close(self) -> None:
        return None


def check_literal(host: str, policy: AddressPolicy) -> None:
    """Refuse a literal address the policy does not allow (names are checked by the resolver at connect time)."""
    literal = literal_address(host)
    if literal is not None:
        problem = address_problem(literal, policy.allow_loopback, policy.allow_private)
        if problem:
            raise AddressRefused(f"refusing to {policy.action} {host}: it is {problem}")


def guarded_session(
    policy: AddressPolicy, resolve: Resolver = system_resolver, *, limit: int = 256, **options: Any
) -> aiohttp.ClientSession:
    """A session whose connections reach only addresses `policy` allows (see the module docstring for literals)."""
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(policy, resolve), use_dns_cache=False, limit=limit, limit_per_host=0
    )
    return aiohttp.ClientSession(
        connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False, **options
    )
