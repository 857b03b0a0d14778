"""Pure webhook rules: event types, endpoint URLs, secrets and signatures, and what an attempt's answer means.

- An endpoint URL is HTTPS (plain http only to loopback, and only with WEBHOOKS_ALLOW_PRIVATE); a literal address in
  it must pass the shared SSRF policy (`svd.netguard`), a host name is resolved and checked by the caller, and again
  at every connect.
- Signatures follow Standard Webhooks, computed by the `standardwebhooks` package: `v1,<base64 HMAC-SHA256 of
  "{webhook-id}.{timestamp}.{body}">`, one per live secret (two while a rotated secret overlaps), space-separated.
- An answer 2xx succeeds; a timeout, a connection error, 5xx, 408, 409 and 429 are retried per the schedule
  (`Retry-After` honoured when it asks for longer); any other answer (other 4xx, a redirect, which is never
  followed) or a refused address is final.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import Enum
from urllib.parse import urlsplit

from standardwebhooks.webhooks import Webhook

from svd.errors import InvalidArgument
from svd.netguard import AddressPolicy, address_problem, literal_address

JOB_TYPES = ("job.queued", "job.running", "job.progress", "job.succeeded", "job.failed", "job.cancelled")
POST_STATUS_CHANGED = "post.status_changed"
TEST = "webhook.test"
EVENT_TYPES = (*JOB_TYPES, POST_STATUS_CHANGED)
MAX_URL = 2048
MAX_DESCRIPTION = 500
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
EXCERPT_CHARS = 1024
RETRYABLE_4XX = frozenset({408, 409, 429})


def check_event_types(types: list[str] | tuple[str, ...]) -> list[str]:
    """The distinct known types, sorted (empty means all), or INVALID_ARGUMENT naming an unknown one."""
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown:
        raise InvalidArgument(f"unknown event type {unknown[0]!r}; known: {', '.join(EVENT_TYPES)}")
    return sorted(set(types))


def wants(event_types: list[str] | None, event_type: str) -> bool:
    """Whether an endpoint subscribed to `event_types` (empty: all) gets `event_type` (tests always go)."""
    return event_type == TEST or not event_types or event_type in event_types


def address_policy(allow_private: bool) -> AddressPolicy:
    return AddressPolicy(allow_loopback=allow_private, allow_private=allow_private, action="deliver webhooks to")


def check_url(url: str, allow_private: bool) -> tuple[str, int]:
    """(host, port) of an acceptable endpoint URL, or INVALID_ARGUMENT saying why not. The host's addresses are
    checked separately (they need a resolver)."""
    if len(url) > MAX_URL:
        raise InvalidArgument(f"url is longer than {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidArgument(f"url is not a valid URL: {exc}") from exc
    host = (parts.hostname or "").lower()
    if not host:
        raise InvalidArgument("url must name a host")
    if parts.username or parts.password:
        raise InvalidArgument("url must not carry credentials (the signature authenticates deliveries)")
    if parts.fragment:
        raise InvalidArgument("url must not have a fragment")
    literal = literal_address(host)
    if literal is not None:
        problem = address_problem(literal, allow_private, allow_private)
        if problem:
            raise InvalidArgument(f"refusing to deliver webhooks to {host}: it is {problem}")
    if parts.scheme == "http":
        loopback = literal.is_loopback if literal is not None else host == "localhost"
        if not (allow_private and loopback):
            raise InvalidArgument("url must be https")
    elif parts.scheme != "https":
        raise InvalidArgument("url must be https")
    return host, port or (443 if parts.scheme == "https" else 80)


def new_secret() -> str:
    """A signing secret: `whsec_` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature_headers(webhook_id: str, at: datetime, body: str, signing_secrets: list[str]) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt, signed with every live secret (newest first)."""
    signatures = [Webhook(secret).sign(webhook_id, at, body) for secret in signing_secrets]
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


class Verdict(Enum):
    SUCCEEDED = "succeeded"
    RETRY = "retry"
    FINAL = "failed"


def verdict(http_status: int | None, refused: bool = False) -> Verdict:
    """What an attempt's answer means (`None`: no answer — a timeout or a connection error)."""
    if refused:
        return Verdict.FINAL
    if http_status is None:
        return Verdict.RETRY
    if 200 <= http_status < 300:
        return Verdict.SUCCEEDED
    if http_status >= 500 or http_status in RETRYABLE_4XX:
        return Verdict.RETRY
    return Verdict.FINAL


def retry_after_s(value: str | None, now: datetime) -> float | None:
    """Seconds a `Retry-After` header asks for (delta-seconds or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True)
class Next:
    """After an attempt: the delivery's new status and, while pending, when to try again."""

    status: str  # pending | succeeded | failed
    at: datetime | None = None


def after_attempt(
    outcome: Verdict,
    attempts_made: int,
    schedule: tuple[float, ...],
    now: datetime,
    retry_after: float | None = None,
    retry_after_max_s: float = 36000.0,
) -> Next:
    """The delivery's fate after its `attempts_made`-th attempt (counted since the last Redeliver)."""
    if outcome is Verdict.SUCCEEDED:
        return Next("succeeded")
    if outcome is Verdict.FINAL or attempts_made > len(schedule):
        return Next("failed")
    delay = schedule[attempts_made - 1]
    if retry_after is not None:
        delay = max(delay, min(retry_after, retry_after_max_s))
    return Next("pending", now + timedelta(seconds=delay))


def excerpt(body: bytes) -> str:
    """The start of a response body as text, for the delivery log (a NUL, which PostgreSQL text cannot hold, as
    U+FFFD)."""
    return body[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")[:EXCERPT_CHARS].replace("\x00", "\ufffd")
