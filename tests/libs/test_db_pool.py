"""The plain psycopg pools of `svd.db.pool`."""

from __future__ import annotations

from svd.db.pool import conninfo, open_pool

URL = "postgresql+psycopg://postgres:secret@127.0.0.1:5432/svd"


def test_conninfo_drops_the_sqlalchemy_driver_and_keeps_the_password() -> None:
    assert conninfo(URL) == "postgresql://postgres:secret@127.0.0.1:5432/svd"


def test_durable_pools_leave_synchronous_commit_alone() -> None:
    pool = open_pool(URL, 3, "test")
    assert (pool.min_size, pool.max_size, pool.name) == (3, 3, "test")
    assert pool.kwargs["autocommit"] is True
    assert "options" not in pool.kwargs


def test_non_durable_pools_commit_without_waiting_for_the_wal() -> None:
    assert open_pool(URL, 1, "test", durable=False).kwargs["options"] == "-c synchronous_commit=off"
