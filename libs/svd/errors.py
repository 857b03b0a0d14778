"""Domain errors shared by all services; the gRPC layer maps each kind to one status code.

Adapters translate library exceptions into these at the boundary (`raise NotFound(...) from exc`), so use cases and
handlers never see transport-specific errors.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a use case may raise on purpose; the message is safe to show to the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(DomainError):
    """The request or event is malformed or asks for something the domain does not allow."""


class NotFound(DomainError):
    """The entity does not exist, or the caller may not know it exists."""


class AlreadyExists(DomainError):
    """The entity exists already and the operation is not idempotent."""


class FailedPrecondition(DomainError):
    """The system is not in a state where the operation can run (e.g. insufficient credits)."""


class Unauthenticated(DomainError):
    """No valid credentials were presented."""


class PermissionDenied(DomainError):
    """Valid credentials that are not allowed to perform this operation."""


class Unavailable(DomainError):
    """A dependency is temporarily unavailable; retrying later may succeed."""


class Internal(DomainError):
    """A peer failed in a way retrying will not fix by itself (a bug, a corrupt state): retried a few times, then
    dead-lettered with this message."""


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` is an infrastructure failure that retrying later may fix: a peer or the database or the object
    store or the bus being down, slow or restarting. Such errors are retried for as long as the job's deadline
    allows; anything else is a bug or bad data, retried a few times and then dead-lettered."""
    if isinstance(exc, Unavailable | TimeoutError | ConnectionError):
        return True
    # Imported here: this module is imported by everything, these libraries only by some services.
    try:
        from sqlalchemy.exc import DBAPIError
        from sqlalchemy.exc import TimeoutError as PoolTimeout

        if isinstance(exc, PoolTimeout) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
            return True
        if isinstance(exc, DBAPIError):
            exc = exc.orig or exc
    except ImportError:  # pragma: no cover
        pass
    try:
        import psycopg
        import psycopg_pool

        if isinstance(exc, psycopg.OperationalError | psycopg_pool.PoolTimeout):
            return True
    except ImportError:  # pragma: no cover
        pass
    try:
        from nats.errors import Error as NatsError

        if isinstance(exc, NatsError):
            return True
    except ImportError:  # pragma: no cover
        pass
    try:
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, BotoCoreError):
            return True
        if isinstance(exc, ClientError):
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            return status >= 500 or status in (408, 429)
    except ImportError:  # pragma: no cover
        pass
    return False
