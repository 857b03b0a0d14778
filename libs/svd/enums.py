"""Readable names for protobuf enum values (`POST_STATUS_CLIENT_REVIEW` ↔ `client_review`), as stored in tables."""

from __future__ import annotations

from typing import Any


def _prefix(enum: Any) -> str:
    zero = enum.Name(0)
    return zero.removesuffix("UNSPECIFIED")


def short_name(enum: Any, value: int) -> str:
    """`short_name(PostStatus, POST_STATUS_CLIENT_REVIEW)` → "client_review"."""
    return enum.Name(value).removeprefix(_prefix(enum)).lower()


def from_short_name(enum: Any, name: str) -> int:
    """Inverse of `short_name`; unknown names raise ValueError."""
    return int(enum.Value(_prefix(enum) + name.upper()))
