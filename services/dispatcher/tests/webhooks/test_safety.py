"""SSRF safety without the development flag: a host that resolves to a private address is refused when the endpoint
is created and again when a delivery connects (a DNS answer that changed since, as in DNS rebinding)."""

from __future__ import annotations

from typing import Any

import pytest

from dispatcher.webhooks.domain import Verdict, address_policy, verdict
from dispatcher.webhooks.sender import Sender
from dispatcher.webhooks.servicer import WebhooksServicer
from dispatcher.webhooks.settings import WebhookSettings
from svd.errors import InvalidArgument
from svd.netguard import guarded_session

PUBLIC = "93.184.215.14"


def answers(*replies: list[str]):  # type: ignore[no-untyped-def]
    calls = iter(replies)

    async def resolve(host: str, port: int) -> list[str]:
        return next(calls)

    return resolve


def servicer(resolve: Any, allow_private: bool = False) -> WebhooksServicer:
    settings = WebhookSettings(webhooks_allow_private=allow_private)
    return WebhooksServicer(None, None, settings, resolve=resolve)  # type: ignore[arg-type]


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "fd00::1"])
async def test_a_name_resolving_to_a_private_address_is_refused_at_creation(address: str) -> None:
    with pytest.raises(InvalidArgument, match=f"hooks.example.com: it resolves to {address}"):
        await servicer(answers([address]))._checked_url("https://hooks.example.com/in")


@pytest.mark.parametrize("url", ["https://10.0.0.1/in", "https://169.254.169.254/in", "https://localhost/in"])
async def test_private_literals_and_localhost_are_refused_at_creation(url: str) -> None:
    with pytest.raises(InvalidArgument, match="refusing to deliver webhooks"):
        await servicer(answers(["127.0.0.1"]))._checked_url(url)


async def test_a_public_name_is_accepted() -> None:
    assert await servicer(answers([PUBLIC]))._checked_url(" https://hooks.example.com/in ") == (
        "https://hooks.example.com/in"
    )


async def test_the_development_flag_lets_a_loopback_receiver_in() -> None:
    assert await servicer(answers(["127.0.0.1"]), allow_private=True)._checked_url("http://localhost:9/in")


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "169.254.169.254"])
async def test_a_delivery_never_connects_to_an_address_that_turned_private(address: str) -> None:
    policy = address_policy(False)
    async with guarded_session(policy, answers([address])) as session:
        answer = await Sender(session, policy, 5.0, 1024).post("https://hooks.example.com/in", "{}", {})
    assert answer.refused and answer.http_status is None
    assert f"refusing to deliver webhooks to hooks.example.com: it resolves to {address}" in answer.error
    assert verdict(answer.http_status, answer.refused) is Verdict.FINAL  # not retried


@pytest.mark.parametrize("url", ["https://127.0.0.1/in", "https://10.1.2.3/in", "http://169.254.169.254/latest"])
async def test_a_delivery_to_a_literal_private_address_is_refused_before_connecting(url: str) -> None:
    policy = address_policy(False)
    async with guarded_session(policy, answers()) as session:
        answer = await Sender(session, policy, 5.0, 1024).post(url, "{}", {})
    assert answer.refused and "refusing to deliver webhooks to" in answer.error
