"""ListMedia paging (pure): page size clamping and the keyset token."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from media_store.paging import DEFAULT_LIMIT, MAX_LIMIT, Cursor, clamp_limit, decode, encode
from svd.errors import InvalidArgument


@pytest.mark.parametrize(
    ("asked", "got"),
    [
        (0, DEFAULT_LIMIT),
        (1, 1),
        (250, 250),
        (MAX_LIMIT, MAX_LIMIT),
        (MAX_LIMIT + 1, MAX_LIMIT),
        (-1, 1),
        (-(2**31), 1),
    ],
)
def test_page_sizes_are_clamped(asked: int, got: int) -> None:
    assert clamp_limit(asked) == got


def test_a_token_round_trips_to_the_microsecond() -> None:
    cursor = Cursor(datetime(2026, 11, 27, 15, 1, 2, 345678, tzinfo=UTC), "3f2a-media")
    token = encode(cursor)
    assert "=" not in token and "/" not in token and "+" not in token
    assert decode(token) == cursor
    assert decode("") is None


@pytest.mark.parametrize("token", ["not-a-token", "e30", "W10", encode(Cursor(datetime(2026, 1, 1), "m")), "%%%"])
def test_a_bad_token_is_the_caller_s_error(token: str) -> None:
    with pytest.raises(InvalidArgument, match="page_token"):
        decode(token)
