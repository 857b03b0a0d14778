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
