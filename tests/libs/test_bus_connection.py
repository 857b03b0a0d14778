"""How a service reaches NATS: every node of `NATS_URL`, its own user (in the URLs, or `NATS_USER`/`NATS_PASSWORD`),
a creds file or a CA when set, and its own inbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from svd.bus.broker import make_broker
from svd.bus.connection import NatsSettings, connect_options, servers


def test_credentials_leave_the_urls_for_the_connect_options() -> None:
    # A cluster announces its nodes without credentials; the client adds every announced node it does not know by
    # `user:password@host:port`, so credentials left in the URLs would add a twin of each node that refuses it.
    url = "nats://still-frame:p%40ss@n1:4222, nats://still-frame:p%40ss@n2:4222,n3:4222"
    assert servers(url) == (["nats://n1:4222", "nats://n2:4222", "nats://n3:4222"], "still-frame", "p@ss")


def test_connect_options_carry_the_inbox_creds_and_ca(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NATS_URL", "tls://n1:4222,tls://n2:4222")
    monkeypatch.setenv("NATS_CREDS", str(tmp_path / "still-frame.creds"))
    options = connect_options(NatsSettings(), "still-frame")  # type: ignore[call-arg]
    assert options["servers"] == ["tls://n1:4222", "tls://n2:4222"]
    assert options["inbox_prefix"] == "_INBOX.still-frame"
    assert options["user_credentials"] == str(tmp_path / "still-frame.creds")
    assert "tls" not in options


def test_the_broker_connects_to_every_node_with_its_own_inbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://n1:4222,nats://n2:4222")
    monkeypatch.setenv("NATS_USER", "media-store")
    monkeypatch.setenv("NATS_PASSWORD", "pw")
    broker = make_broker(NatsSettings(), "media-store")  # type: ignore[call-arg]
    options = broker._connection_kwargs  # what `nats.connect` is called with
    assert options["servers"] == ["nats://n1:4222", "nats://n2:4222"]
    assert (options["user"], options["password"]) == ("media-store", "pw")
    assert options["inbox_prefix"] == "_INBOX.media-store"
