"""Least privilege on the bus: each service's NATS permissions, derived from `svd.bus.topology` (one table).

A service may publish the subjects it owns (`topology.PUBLISHES`), the dead letters of what it consumes, and the
JetStream API requests of its own durable consumers only: look one up (`$JS.API.CONSUMER.INFO.<stream>.<durable>`),
pull from it (`$JS.API.CONSUMER.MSG.NEXT.<stream>.<durable>`) and settle what it was handed (`$JS.ACK.<stream>.
<durable>.>`: ack, nak with delay, in-progress, term). It subscribes to its own inbox only (`_INBOX.<service>.>`:
publish acks and pulled messages arrive there). So it cannot publish an event it does not own, read another
service's queue or another tenant's events off the wire, nor create, change or delete a stream.

One exception is deliberate: the dispatcher hosts the operators' dead-letter API (`Operations`), so it may also read,
look up and purge the `DEAD_LETTER` stream's messages and replay a letter to its original subject — any subject a
consumer reads (the replay is recorded with the operator's key).

The dev stack writes these into its NATS config (`svd_stack.nats_server`); `render_users` gives the same table in
the shape of the NATS server's `authorization.users`, for the chart values of a real cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from svd.bus.connection import inbox_prefix
from svd.bus.topology import (
    CLIENT_APPROVED,
    CLIENT_REJECTED,
    CONSUMERS,
    COPY_APPROVED,
    DEAD_LETTER,
    DESIGN_REJECTED,
    PUBLISHES,
    dead_letter_subject,
)

# The service that serves `Operations` (dead letters listed, shown, replayed, purged).
OPERATIONS_HOST = "dispatcher"


def operations_rights() -> list[str]:
    """What dead-letter operations publish: the DEAD_LETTER stream's info, message-get and purge requests, and the
    original subjects replays go back to."""
    stream_api = [f"$JS.API.STREAM.{verb}.{DEAD_LETTER}" for verb in ("INFO", "MSG.GET", "PURGE")]
    return stream_api + [spec.subject for spec in CONSUMERS if spec.stream != DEAD_LETTER]


@dataclass(frozen=True)
class Permissions:
    """Subjects a NATS user may publish to and subscribe to (everything else is denied)."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]

    def nats_config(self) -> dict[str, Any]:
        """The `permissions` block of a user in the NATS server's config."""
        return {"publish": {"allow": list(self.publish)}, "subscribe": {"allow": list(self.subscribe)}}


def of(service: str) -> Permissions:
    """The permissions of `service` (a key of `topology.PUBLISHES`)."""
    if service not in PUBLISHES:
        raise KeyError(f"no service {service!r} in the topology")
    publish: list[str] = list(PUBLISHES[service])
    for spec in CONSUMERS:
        if spec.owner != service:
            continue
        publish += [
            dead_letter_subject(spec.subject),
            f"$JS.API.CONSUMER.INFO.{spec.stream}.{spec.durable}",
            f"$JS.API.CONSUMER.MSG.NEXT.{spec.stream}.{spec.durable}",
            f"$JS.ACK.{spec.stream}.{spec.durable}.>",
        ]
    if service == OPERATIONS_HOST:
        publish += operations_rights()
    return Permissions(publish=tuple(dict.fromkeys(publish)), subscribe=(f"{inbox_prefix(service)}.>",))


def table() -> dict[str, Permissions]:
    """Every service's permissions."""
    return {service: of(service) for service in PUBLISHES}


# The user of the provisioning job on a real cluster: it manages streams and consumers, and nothing else.
PROVISIONER = "provision"
PROVISIONER_RIGHTS = Permissions(publish=("$JS.API.>",), subscribe=(f"{inbox_prefix(PROVISIONER)}.>",))
# The upstream router (the agency's TypeScript app) publishes the reviewers' decisions, its replies arriving on
# `_INBOX.upstream.>` (its client's inbox prefix). Reading our outbound events takes consumers of its own: their
# `$JS.API.CONSUMER.*` subjects are added here when that app declares them.
UPSTREAM = "upstream"
UPSTREAM_RIGHTS = Permissions(
    publish=(COPY_APPROVED, DESIGN_REJECTED, CLIENT_REJECTED, CLIENT_APPROVED),
    subscribe=(f"{inbox_prefix(UPSTREAM)}.>",),
)


def render_users(passwords: dict[str, str]) -> list[dict[str, Any]]:
    """NATS `authorization.users` entries, one per service, with the given password (or a reference such as
    `$DISPATCHER_NATS_PASSWORD` that the NATS config resolves from the server's environment)."""
    return [
        {"user": service, "password": passwords[service], "permissions": rights.nats_config()}
        for service, rights in table().items()
    ]


def password_variable(user: str) -> str:
    """The environment variable a NATS server reads `user`'s password from (`video-gateway` →
    `VIDEO_GATEWAY_NATS_PASSWORD`)."""
    return f"{user.upper().replace('-', '_')}_NATS_PASSWORD"


def chart_users() -> list[dict[str, Any]]:
    """The `authorization.users` of the official NATS chart's `config.merge`: every service, the provisioner and the
    upstream router, passwords as `<< $VARIABLE >>` (the chart writes them unquoted, so the server reads them from
    its environment)."""
    users = render_users({service: f"<< ${password_variable(service)} >>" for service in PUBLISHES})
    for user, rights in ((PROVISIONER, PROVISIONER_RIGHTS), (UPSTREAM, UPSTREAM_RIGHTS)):
        users.append(
            {"user": user, "password": f"<< ${password_variable(user)} >>", "permissions": rights.nats_config()}
        )
    return users


if __name__ == "__main__":  # the block for `config.merge` of deploy/helm/nats-values.yaml (JSON is YAML too)
    import json

    print(json.dumps({"authorization": {"users": chart_users()}}, indent=2))
