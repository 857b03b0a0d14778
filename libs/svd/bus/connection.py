"""How a process reaches NATS: the servers of a cluster, its own credentials, TLS, and its private inbox.

`NATS_URL` may list several servers (comma separated, every node of a cluster): the client connects to one and
fails over to the others. Credentials come from the URLs (`nats://user:password@host:port`), from `NATS_USER` /
`NATS_PASSWORD` (added to every URL that has none), or from a creds file (`NATS_CREDS`, JWT + nkey seed); a private
CA for `tls://` servers from `NATS_TLS_CA`.

Each service receives replies (JetStream publish acks, pulled messages) on its own inbox prefix, `_INBOX.<client>`,
so its NATS user may subscribe to its own replies only, never to another service's (see `svd.bus.permissions`).
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

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


def servers(nats_url: str, user: str = "", password: str = "") -> list[str]:
    """The server URLs of `nats_url`; `user`/`password` are added to the URLs that carry no credentials."""
    found = [url.strip() for url in nats_url.split(",") if url.strip()]
    if not user:
        return found
    auth = f"{quote(user, safe='')}:{quote(password, safe='')}@"
    with_auth = []
    for url in found:
        parts = urlsplit(url if "://" in url else f"nats://{url}")
        if parts.username is None:
            parts = parts._replace(netloc=auth + parts.netloc)
        with_auth.append(urlunsplit(parts))
    return with_auth


def inbox_prefix(client_name: str) -> str:
    """Where `client_name`'s replies arrive: its NATS user may subscribe there and nowhere else."""
    return f"_INBOX.{client_name}"


def tls_context(ca_file: str) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=ca_file) if ca_file else None


def connect_options(settings: NatsSettings, client_name: str) -> dict[str, Any]:
    """Keyword arguments for `nats.connect` (servers, credentials, TLS, inbox) for `client_name`."""
    options: dict[str, Any] = {
        "servers": servers(settings.nats_url, settings.nats_user, settings.nats_password.get_secret_value()),
        "name": client_name,
        "inbox_prefix": inbox_prefix(client_name),
    }
    if settings.nats_creds:
        options["user_credentials"] = settings.nats_creds
    if settings.nats_tls_ca:
        options["tls"] = tls_context(settings.nats_tls_ca)
    return options
