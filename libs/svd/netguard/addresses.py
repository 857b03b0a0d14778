"""Which IP addresses an outbound connection may reach, and a host's addresses once every one of them is checked.

Public addresses pass. Loopback passes only when the policy allows it (a local simulator or receiver in
development), other private, shared and unique-local ranges only when it allows private networks. Link-local
addresses (169.254.0.0/16 with the cloud metadata service, fe80::/10) never pass, whatever the policy.
IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]


class AddressRefused(Exception):
    """The destination may not be connected to (never retried as it is)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class AddressPolicy:
    """What may be reached besides public addresses; `action` names the caller in refusals ("download from")."""

    allow_loopback: bool = False
    allow_private: bool = False
    action: str = "connect to"


def address_problem(ip: IPAddress, allow_loopback: bool = False, allow_private: bool = False) -> str | None:
    """Why connecting to `ip` is refused, or None when it may be reached."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None if allow_loopback or allow_private else "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_private:
        return None if allow_private else "a private address"
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved or not ip.is_global:
        return None if allow_private and not (ip.is_multicast or ip.is_unspecified) else "not a public address"
    return None


def literal_address(host: str) -> IPAddress | None:
    """`host` as an IP address when it is one (brackets of an IPv6 literal allowed), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (the system resolver, off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def checked_addresses(
    host: str, port: int, policy: AddressPolicy, resolve: Resolver = system_resolver
) -> list[IPAddress]:
    """What `host` resolves to, once every address passed `policy` (one bad answer refuses the host)."""
    literal = literal_address(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            resolved = await resolve(host, port)
        except OSError as exc:
            raise AddressRefused(f"refusing to {policy.action} {host}: cannot resolve it ({exc})") from exc
        addresses = [ipaddress.ip_address(address.split("%")[0]) for address in resolved]
        if not addresses:
            raise AddressRefused(f"refusing to {policy.action} {host}: it resolves to no address")
    for ip in addresses:
        problem = address_problem(ip, policy.allow_loopback, policy.allow_private)
        if problem:
            where = "it is" if literal is not None else f"it resolves to {ip},"
            raise AddressRefused(f"refusing to {policy.action} {host}: {where} {problem}")
    return addresses
