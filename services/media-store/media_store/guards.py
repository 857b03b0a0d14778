"""Where the media store may download from: HTTPS only, allowed hosts per provider, public addresses only.

Every URL (the provider's and every redirect hop) passes `check_url` (scheme, host allow-list, literal addresses);
every connection passes `svd.netguard` (what the host name resolves to; shared with the dispatcher's webhooks)
inside the download client's transport (`pinning`), which then connects to exactly the addresses it checked, so
neither a redirect nor a DNS answer, even one that changes between check and connect, can point the download at the
cloud metadata service (169.254.169.254), a private network or the machine itself. Plain HTTP is allowed only to
loopback and only when `allow_loopback_http` is set (the local simulator in development).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from svd.netguard import AddressPolicy, address_problem, checked_addresses, literal_address
from svd.netguard import AddressRefused as SourceRefused

ACTION = "download from"


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


def address_policy(allow_loopback: bool) -> AddressPolicy:
    """What a download may connect to: public addresses (and loopback, in development)."""
    return AddressPolicy(allow_loopback=allow_loopback, action=ACTION)


def _is_loopback_name(host: str) -> bool:
    literal = literal_address(host)
    return host.lower() == "localhost" if literal is None else literal.is_loopback


def check_url(url: str, policy: SourcePolicy) -> tuple[str, int]:
    """Check scheme, host and literal address of `url`; returns (host, port) for `check_resolved`."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        raise SourceRefused(f"refusing to download {url!r}: no host")
    where = f"{parts.scheme}://{host}"
    literal = literal_address(host)
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


async def check_resolved(host: str, port: int, policy: SourcePolicy) -> None:
    """Every address `host` resolves to must be public (or loopback, when allowed)."""
    await checked_addresses(host, port, address_policy(policy.allow_loopback_http))


__all__ = ["SourcePolicy", "SourceRefused", "address_policy", "address_problem", "check_resolved", "check_url"]
