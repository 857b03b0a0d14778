"""Outbound connections to addresses given by users or providers, without server-side request forgery.

`addresses` decides which IP addresses may be connected to (public ones; loopback or private networks only when a
policy allows it; link-local, which includes the cloud metadata service 169.254.169.254, never) and resolves a host
to checked addresses; `transport` is an httpx transport that resolves, checks and connects to exactly the addresses it
checked, so a DNS answer that changes between a check and the connect (DNS rebinding) cannot redirect it (media-store's
provider downloads); `sessions` is the same for aiohttp (the dispatcher's webhook deliveries).
"""

from svd.netguard.addresses import (
    AddressPolicy,
    AddressRefused,
    IPAddress,
    Resolver,
    address_problem,
    checked_addresses,
    literal_address,
    system_resolver,
)
from svd.netguard.sessions import GuardedResolver, check_literal, guarded_session
from svd.netguard.transport import GuardedNetworkBackend, GuardedTransport, guarded_client

__all__ = [
    "AddressPolicy",
    "AddressRefused",
    "GuardedNetworkBackend",
    "GuardedResolver",
    "GuardedTransport",
    "IPAddress",
    "Resolver",
    "address_problem",
    "check_literal",
    "checked_addresses",
    "guarded_client",
    "guarded_session",
    "literal_address",
    "system_resolver",
]
