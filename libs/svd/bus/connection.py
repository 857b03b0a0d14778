"""How a process reaches NATS: the servers of a cluster, its own credentials, TLS, and its private inbox.

`NATS_URL` may list several servers (comma separated, every node of a cluster): the client connects to one and
fails over to the others. Credentials come from `NATS_USER` / `NATS_PASSWORD`, from the URLs
(`nats://user:password@host:port`), or from a creds file (`NATS_CREDS`, JWT + nkey seed); a private
CA for `tls://` servers from `NATS_TLS_CA`.

Each service receives replies (JetStream publish acks, pulled messages) on its own inbox prefix, `_INBOX.<client>`,
so its NATS user may subscribe to its own replies only, never to another service's (see `svd.bus.permissions`).
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class NatsSettings(BaseSettings):
    """The bus connection settings every process that talks to NATS reads."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, hide_input_in_errors=True)

    nats_url: str = Field(description="NATS server URL(s), comma separated")
    nats_user: str = ""
    nats_password: SecretStr = SecretStr("")
    nats_creds: str = Field(default="", description="path of a NATS creds file (user JWT and nkey seed)")
    nats_tls_ca: str = Field(default="", description="path of the CA bundle that signed the servers' certificates")


def servers(nats_url: str) -> tuple[list[str], str, str]:
    """The server URLs of `nats_url` without credentials, and the user and password the first of them carried.

    Credentials travel as connect options, never inside the URLs: the client adds the servers a cluster announces
    (`connect_urls`) unless one with the same `user:password@host:port` is already known, so an URL with credentials
    would let in a credential-less twin, and a failover to it is refused (seen: a service that never reconnected)."""
    found, user, password = [], "", ""
    for url in (item.strip() for item in nats_url.split(",")):
        if not url:
            continue
        parts = urlsplit(url if "://" in url else f"nats://{url}")
        if parts.username is not None and not user:
            user, password = unquote(parts.username), unquote(parts.password or "")
        found.append(urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])))
    return found, user, password


def inbox_prefix(client_name: str) -> str:
    """Where `client_name`'s replies arrive: its NATS user may subscribe there and nowhere else."""
    return f"_INBOX.{client_name}"


def tls_context(ca_file: str) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=ca_file) if ca_file else None


def connect_options(settings: NatsSettings, client_name: str) -> dict[str, Any]:
    """Keyword arguments for `nats.connect` (servers, credentials, TLS, inbox) for `client_name`."""
    urls, user, password = servers(settings.nats_url)
    options: dict[str, Any] = {"servers": urls, "name": client_name, "inbox_prefix": inbox_prefix(client_name)}
    if settings.nats_user:
        user, password = settings.nats_user, settings.nats_password.get_secret_value()
    if user:
        options["user"], options["password"] = user, password
    if settings.nats_creds:
        options["user_credentials"] = settings.nats_creds
    if settings.nats_tls_ca:
        options["tls"] = tls_context(settings.nats_tls_ca)
    return options
