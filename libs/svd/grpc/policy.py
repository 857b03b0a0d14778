"""What every RPC transport of a service shares (gRPC in `svd.grpc.server`, Connect in `svd.grpc.connect`): who is
calling, from the bearer key, and what a failure becomes, as one status name both transports know
(`grpc.StatusCode[name]`, `connectrpc.code.Code[name]`).

A domain error becomes its status with its message; an infrastructure failure (the database restarting, the object
store away) becomes UNAVAILABLE, which callers retry, rather than UNKNOWN, which they must not; anything else is a
bug, which each transport reports as it does (gRPC as UNKNOWN, Connect as an opaque INTERNAL).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from svd import errors
from svd.grpc.auth import KeyStore, Principal, bearer_token

log = logging.getLogger(__name__)

STATUS_NAME_OF: dict[type[errors.DomainError], str] = {
    errors.InvalidArgument: "INVALID_ARGUMENT",
    errors.NotFound: "NOT_FOUND",
    errors.AlreadyExists: "ALREADY_EXISTS",
    errors.FailedPrecondition: "FAILED_PRECONDITION",
    errors.Unauthenticated: "UNAUTHENTICATED",
    errors.PermissionDenied: "PERMISSION_DENIED",
    errors.Unavailable: "UNAVAILABLE",
}
UNAUTHENTICATED_MESSAGE = "missing or invalid API key"
UNAVAILABLE_MESSAGE = "temporarily unavailable, retry later"


@dataclass(frozen=True)
class Failure:
    """What the caller is told: a status name and a message safe to show."""

    status: str
    message: str


def status_name(error: errors.DomainError) -> str:
    for kind in type(error).__mro__:
        if kind in STATUS_NAME_OF:
            return STATUS_NAME_OF[kind]  # type: ignore[index]
    return "UNKNOWN"


def failure_of(exc: BaseException, method: str) -> Failure | None:
    """The status a failed call answers with, or None for a bug (the transport's own report of it stands)."""
    if isinstance(exc, errors.DomainError):
        return Failure(status_name(exc), exc.message)
    if errors.is_transient(exc):
        log.warning("%s: unavailable (%s: %s)", method, type(exc).__name__, exc)
        return Failure("UNAVAILABLE", UNAVAILABLE_MESSAGE)
    return None


async def authenticate(keys: KeyStore, metadata: Mapping[str, str]) -> Principal:
    """The caller of a call with these (lower-case) headers: Unauthenticated without a known bearer key; a key
    store that cannot answer raises what it raised (transient: UNAVAILABLE)."""
    token = bearer_token(metadata)
    found = await keys.lookup(token) if token else None
    if found is None:
        raise errors.Unauthenticated(UNAUTHENTICATED_MESSAGE)
    return found
