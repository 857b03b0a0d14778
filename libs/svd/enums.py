"""Readable names for protobuf enum values (`POST_STATUS_CLIENT_REVIEW` ↔ `client_review`), as stored in tables."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    # Generic over the enum's value type in the protobuf stubs (mypy-protobuf gives each enum its own `ValueType`).
    from google.protobuf.internal.enum_type_wrapper import _EnumTypeWrapper

V = TypeVar("V", bound=int)


@functools.cache  # one per enum type (a job's view converts a dozen names per row)
def _prefix(enum: Any) -> str:
    zero = enum.Name(0)
    return str(zero).removesuffix("UNSPECIFIED")


def short_name(enum: Any, value: int) -> str:
    """`short_name(PostStatus, POST_STATUS_CLIENT_REVIEW)` → "client_review"."""
    return str(enum.Name(value)).removeprefix(_prefix(enum)).lower()


def from_short_name(enum: _EnumTypeWrapper[V], name: str) -> V:
    """Inverse of `short_name`, typed as the enum's own values; unknown names raise ValueError."""
    return enum.Value(_prefix(enum) + name.upper())
