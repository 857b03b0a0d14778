"""Where the media store may download from: HTTPS only, allowed hosts per provider, public addresses only.

Every URL (the provider's and every redirect hop) passes `check_url` (scheme, host allow-list, literal addresses);
every connection passes `checked_addresses` (what the host name resolves to) inside the download client's transport
(`pinning`), which then connects to exactly the addresses it checked, so neither a redirect nor a DNS answer, even
one that changes between check and connect, can point the download at the cloud metadata service
(169.254.169.254), a private network or the machine itself. Plain HTTP is
allowed only to loopback and only when `allow_loopback_http` is set (the local simulator in development).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class SourceRefused(Exception):
    """The URL may not be downloaded from (never retried)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class SourcePolicy:
    """Allowed host patterns (`example.com`, `*.example.com`) and whether plain HTTP to loopback is allowed."""

    allowed_hosts: tuple[str, ...]
    allow_loopback_http: bool = False


def host_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    for pattern in patterns:
        pattern = pattern.lower().rstrip(".")
        if pattern == "*" or host == pattern:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
            return True
    return False


def address_problem(ip: IPAddress, allow_loopback: bool) -> str | None:
    """Why downloading from `ip` is refused, or None for a public address (or allowed loopback)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_private:
        return "a private address"
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved or not ip.is_global:
        return "not a public address"
    return None


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _is_loopback_name(host: str) -> bool:
    literal = _literal(host)
    return host.lower() == "localhost" if literal is None else literal.is_loopback


def check_url(url: str, policy: SourcePolicy) -> tuple[str, int]:
    """Check scheme, host and literal address of `url`; returns (host, port) for `check_resolved`."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        raise SourceRefused(f"refusing to download {url!r}: no host")
    where = f"{parts.scheme}://{host}"
    literal = _literal(host)
    if literal is not None:
        problem = address_problem(literal, policy.allow_loopback_http)
        if problem:
            raise SourceRefused(f"refusing to download from {where}: {problem}")
    if parts.scheme == "http":
        if not (policy.allow_loopback_http and _is_loopback_name(host)):
            raise SourceRefused(f"refusing to download from {where}: only HTTPS is allowed")
    elif parts.scheme != "https":
        raise SourceRefused(f"refusing to download from {where}: only HTTPS is allowed")
    if not host_allowed(host, policy.allowed_hosts):
        raise SourceRefused(f"refusing to download from {where}: host not allowed for this provider")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise SourceRefused(f"refusing to download from {where}: bad port") from exc
    return host, port


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (the system resolver, off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def checked_addresses(
    host: str, port: int, allow_loopback: bool, resolve: Resolver = system_resolver
) -> list[IPAddress]:
    """What `host` resolves to, once every address is known to be public (or loopback, when allowed)."""
    literal = _literal(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            resolved = await resolve(host, port)
        except OSError as exc:
            raise SourceRefused(f"refusing to download from {host}: cannot resolve it ({exc})") from exc
        addresses = [ipaddress.ip_address(address.split("%")[0]) for address in resolved]
        if not addresses:
            raise SourceRefused(f"refusing to download from {host}: it resolves to no address")
    for ip in addresses:
        problem = address_problem(ip, allow_loopback)
        if problem:
            raise SourceRefused(f"refusing to download from {host}: it resolves to {ip}, {problem}")
    return addresses


async def check_resolved(host: str, port: int, policy: SourcePolicy) -> None:
    """Every address `host` resolves to must be public (or loopback, when allowed)."""
    await checked_addresses(host, port, policy.allow_loopback_http)
