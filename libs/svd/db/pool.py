"""Plain psycopg connection pools for hot paths: one prepared statement per call, no ORM layer in between.

SQLAlchemy Core builds, caches and wraps every statement (and runs it through a greenlet); on a path taken hundreds
of times a second (billing movements, the gateway's poll checks) that costs more CPU than the database itself. These
pools hand out autocommit connections that prepare each statement on first use and return rows as named tuples.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from psycopg import AsyncConnection
from psycopg.rows import namedtuple_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import make_url

from svd.db.engine import CONNECT_TIMEOUT_S, server_options
from svd.db.url import sqlalchemy_url

RECONNECT_TIMEOUT_S = 8.0

# Rows are named tuples: columns are read by name.
Pool: TypeAlias = AsyncConnectionPool[AsyncConnection[Any]]


def conninfo(database_url: str) -> str:
    """libpq connection string of a database URL (`postgresql://…` or SQLAlchemy's `postgresql+psycopg://…`)."""
    return make_url(sqlalchemy_url(database_url)).set(drivername="postgresql").render_as_string(hide_password=False)


def open_pool(database_url: str, size: int, name: str, *, durable: bool = True) -> Pool:
    """A fixed-size pool of autocommit connections (open it with `async with`).

    `durable=False` sets `synchronous_commit = off` on its connections: commits return before the WAL reaches the
    disk, so a crash may lose the last fraction of a second of writes. Only for writes whose loss is harmless."""
    options = server_options("" if durable else "-c synchronous_commit=off")
    return Pool(
        conninfo(database_url),
        min_size=size,
        max_size=size,
        kwargs={
            "autocommit": True,
            "prepare_threshold": 0,
            "row_factory": namedtuple_row,
            "connect_timeout": CONNECT_TIMEOUT_S,
            "options": options,
        },
        # A connection broken by a database restart is found and replaced when it is handed out, not by the call
        # that would have used it.
        check=Pool.check_connection,
        # psycopg_pool's reconnect delay doubles without a cap until this timeout: with its default (300 s) a pool
        # came back a minute after PostgreSQL did. Giving up a slot early is harmless: the pool grows it again as
        # soon as a caller waits, so the effective retry delay stays a few seconds.
        reconnect_timeout=RECONNECT_TIMEOUT_S,
        open=False,
        name=name,
    )
