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


def _as(doc: dict[str, Any], user: str) -> str:
    port = urlsplit(doc["nats_url"]).port
    return f"nats://{user}:{doc['secrets'][f'nats_password_{user}']}@127.0.0.1:{port}"


async def _publishes(doc: dict[str, Any], user: str, subjects: list[str]) -> tuple[set[str], list[str]]:
    """Which of `subjects` published as `user` reach a subscriber (the operator's), and the errors `user` got."""
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    watcher = await nats.connect(doc["nats_url"], connect_timeout=2)
    service = await nats.connect(_as(doc, user), connect_timeout=2, error_cb=on_error, inbox_prefix=f"_INBOX.{user}")
    try:
        sub = await watcher.subscribe("video.>")
        await watcher.flush()
        for subject in subjects:
            await service.publish(subject, b"forged?")
        await service.flush()
        received: set[str] = set()
        wait_s = 10.0  # the first message may take a while on a busy machine; after it, one more second for others
        while True:
            try:
                received.add((await sub.next_msg(timeout=wait_s)).subject)
                wait_s = 1.0
            except nats.errors.TimeoutError:
                break
        for _ in range(50):  # the refusal comes back asynchronously (an -ERR from the server)
            if errors:
                break
            await asyncio.sleep(0.1)
        return received, errors
    finally:
        await service.close()
        await watcher.close()


def test_still_frame_may_publish_its_own_events_but_never_video_stored(doc: dict[str, Any]) -> None:
    received, errors = asyncio.run(_publishes(doc, "still-frame", ["video.still.ready", "video.stored"]))
    assert received == {"video.still.ready"}
    assert any('permissions violation for publish to "video.stored"' in error.lower() for error in errors), errors


def test_a_service_cannot_read_the_bus_or_another_services_inbox(doc: dict[str, Any]) -> None:
    async def subscribe(subject: str) -> list[str]:
        errors: list[str] = []

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))

        nc = await nats.connect(_as(doc, "still-frame"), connect_timeout=2, error_cb=on_error)
        try:
            await nc.subscribe(subject)
            await nc.flush()
            await asyncio.sleep(0.2)
            return errors
        finally:
            await nc.close()

    for subject in ("video.>", "social.>", "_INBOX.dispatcher.>", ">"):
        assert any("permissions violation for subscription" in e.lower() for e in asyncio.run(subscribe(subject)))
    assert asyncio.run(subscribe("_INBOX.still-frame.>")) == []


def test_a_service_user_needs_its_own_password(doc: dict[str, Any]) -> None:
    port = urlsplit(doc["nats_url"]).port
    _nats_refused(f"nats://media-store:{doc['secrets']['nats_password_still-frame']}@127.0.0.1:{port}")
