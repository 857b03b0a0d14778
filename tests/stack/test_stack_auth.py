"""The dev stack's PostgreSQL and NATS refuse local clients without the home's credentials (review L12).

Any local user can reach 127.0.0.1: without a password they could mint credits in the database or forge
`video.stored` on the bus. The credentials are in stack.json (0600) and the URLs the services get.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nats
import psycopg
import pytest
from nats.errors import Error as NatsError

from svd_stack import down, postgres, procs, state, up

INFRA = ["nats", "postgres"]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("auth") / "svd-home"
    yield path
    down(path, purge=True)


@pytest.fixture(scope="module")
def doc(home: Path) -> dict[str, Any]:
    return up(home, only=INFRA, env={k: v for k, v in os.environ.items() if k != "RUNWAY_API_KEY"})


def _pg_tcp(doc: dict[str, Any], password: str | None) -> psycopg.Connection[Any]:
    port = doc["processes"]["postgres"]["port"]
    conninfo = f"host=127.0.0.1 port={port} user=postgres dbname=svd connect_timeout=5"
    return psycopg.connect(conninfo if password is None else f"{conninfo} password={password}")


def _pg_url(doc: dict[str, Any]) -> psycopg.Connection[Any]:
    return psycopg.connect(doc["database_url"].replace("+psycopg", ""), connect_timeout=5)


async def _nats_roundtrip(url: str) -> None:
    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False)
    try:
        sub = await nc.subscribe("auth.probe")
        await nc.publish("auth.probe", b"x")
        assert (await sub.next_msg(timeout=5)).data == b"x"
    finally:
        await nc.close()


def _nats_refused(url: str) -> None:
    with pytest.raises((NatsError, OSError)) as err:
        asyncio.run(_nats_roundtrip(url))
    assert "authorization" in str(err.value).lower() or "auth" in type(err.value).__name__.lower(), repr(err.value)


def test_postgres_over_tcp_needs_the_password(doc: dict[str, Any]) -> None:
    with pytest.raises(psycopg.OperationalError, match="password"):
        _pg_tcp(doc, None).close()
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        _pg_tcp(doc, "guess").close()
    with _pg_url(doc) as conn:
        assert conn.execute("select current_user, current_database()").fetchone() == ("postgres", "svd")
    assert urlsplit(doc["database_url"]).password == doc["secrets"]["postgres_password"]


def test_nats_needs_the_credentials(doc: dict[str, Any]) -> None:
    url = urlsplit(doc["nats_url"])
    assert url.username and url.password == doc["secrets"]["nats_password"]
    _nats_refused(f"nats://127.0.0.1:{url.port}")
    _nats_refused(f"nats://{url.username}:guess@127.0.0.1:{url.port}")
    asyncio.run(_nats_roundtrip(doc["nats_url"]))


def test_no_secret_on_a_command_line_and_nats_config_is_private(home: Path, doc: dict[str, Any]) -> None:
    secrets = (doc["secrets"]["nats_password"], doc["secrets"]["postgres_password"])
    for name in INFRA:
        cmdline = procs.read_cmdline(doc["processes"][name]["pid"]) or []
        assert cmdline and not any(secret in arg for secret in secrets for arg in cmdline), name
    config = home / "data" / "nats" / "nats.conf"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600


def test_a_home_left_on_trust_is_locked_down_by_up(home: Path, doc: dict[str, Any]) -> None:
    # A cluster from before (initdb --auth=trust), still running: every TCP client gets in without a password.
    hba = home / "data" / "postgres" / "pg_hba.conf"
    with hba.open("r+") as fh:
        fh.write("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        fh.truncate()
    socket_dir = state.run_dir(home.resolve()) / "postgres"
    port = doc["processes"]["postgres"]["port"]
    with psycopg.connect(host=str(socket_dir), port=port, user="postgres", autocommit=True) as conn:
        conn.execute("select pg_reload_conf()")
    deadline = time.monotonic() + 30
    while not _lets_in_without_password(doc):  # the reload applies asynchronously
        assert time.monotonic() < deadline, "trust never took effect"
        time.sleep(0.1)

    again = up(home, only=INFRA)
    assert again["processes"]["postgres"]["pid"] == doc["processes"]["postgres"]["pid"]  # fixed in place
    assert hba.read_text() == postgres.HBA
    assert not _lets_in_without_password(doc)
    _pg_url(doc).close()


def _lets_in_without_password(doc: dict[str, Any]) -> bool:
    try:
        _pg_tcp(doc, None).close()
    except psycopg.OperationalError:
        return False
    return True


def test_other_local_users_cannot_read_the_home(home: Path, doc: dict[str, Any]) -> None:
    for path in (home, home / "data"):  # at most traversable (PostgreSQL's account needs that when we are root)
        assert stat.S_IMODE(path.stat().st_mode) & 0o066 == 0, path
    for path in (home / "logs", home / "data" / "nats", home / "data" / "postgres"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
