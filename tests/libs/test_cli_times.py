"""Times on the `svd` command line: ISO times (UTC unless they say otherwise) and ages such as 30m or 7d."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import typer

from svd_stack.api import parse_time

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_ages_and_iso_times() -> None:
    assert parse_time("30m", NOW) == NOW - timedelta(minutes=30)
    assert parse_time("1.5h", NOW) == NOW - timedelta(minutes=90)
    assert parse_time("7d", NOW) == NOW - timedelta(days=7)
    assert parse_time("0s", NOW) == NOW
    assert parse_time("2026-04-30T10:00:00", NOW) == datetime(2026, 4, 30, 10, tzinfo=UTC)
    assert parse_time("2026-04-30T10:00:00+02:00", NOW) == datetime(
        2026, 4, 30, 10, tzinfo=timezone(timedelta(hours=2))
    )
    with pytest.raises(typer.BadParameter):
        parse_time("yesterday", NOW)
