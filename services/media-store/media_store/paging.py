"""ListMedia paging (pure): the page size clamp and the opaque keyset token.

Pages are read in `(created_at, media_id)` order, which is stable (media_id breaks ties) and cheap at any depth (the
token holds the last row's key, not an offset). The token is URL-safe base64 of a small JSON object; a token that
does not decode is the caller's error (INVALID_ARGUMENT), never a database error.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from svd.errors import InvalidArgument

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def clamp_limit(limit: int) -> int:
    """0 (unset) means the default; anything else is clamped to 1..MAX_LIMIT (negative numbers included)."""
    if limit == 0:
        return DEFAULT_LIMIT
    return max(1, min(MAX_LIMIT, limit))


@dataclass(frozen=True)
class Cursor:
    """The key of the last row of a page: the next page starts after it."""

    created_at: datetime
    media_id: str


def encode(cursor: Cursor) -> str:
    raw = json.dumps({"t": cursor.created_at.isoformat(), "m": cursor.media_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(token: str) -> Cursor | None:
    """The cursor `token` holds; None for the first page (empty token)."""
    if not token:
        return None
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        created_at = datetime.fromisoformat(raw["t"])
        media_id = raw["m"]
    except (binascii.Error, ValueError, TypeError, KeyError) as exc:
        raise InvalidArgument("page_token is not a token from a previous ListMedia response") from exc
    if created_at.tzinfo is None or not isinstance(media_id, str):
        raise InvalidArgument("page_token is not a token from a previous ListMedia response")
    return Cursor(created_at, media_id)
