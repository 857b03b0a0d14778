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
    assert "synchronous_commit" not in pool.kwargs["options"]


def test_every_pool_bounds_connecting_statements_and_idle_transactions() -> None:
    for durable in (True, False):
        kwargs = open_pool(URL, 1, "test", durable=durable).kwargs
        assert kwargs["connect_timeout"] == 10
        assert "-c statement_timeout=30000" in kwargs["options"]
        assert "-c idle_in_transaction_session_timeout=60000" in kwargs["options"]


def test_non_durable_pools_commit_without_waiting_for_the_wal() -> None:
    assert open_pool(URL, 1, "test", durable=False).kwargs["options"].endswith("-c synchronous_commit=off")


def test_a_pool_gives_up_a_reconnect_slot_early_instead_of_backing_off_for_minutes() -> None:
    assert open_pool(URL, 1, "test").reconnect_timeout <= 10
