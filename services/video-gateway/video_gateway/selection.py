"""Provider selection (pure): which providers to try for a submit, in order, and when to move to the next one."""

from __future__ import annotations

from collections.abc import Iterable

from video_gateway.providers.base import ErrorKind, ProviderError

# Runway is the primary provider; Kling (through fal.ai) the fallback.
PREFERENCE = ("runway", "kling")

# A submit refused for these reasons (after the retries) is tried on the next provider: each means no task was
# created (a submit is `TRANSIENT` only when nothing was sent; `UNSUPPORTED`: no configured model of the provider can
# make the clip, so nothing was sent). `AMBIGUOUS` never fails over: the first provider may
# have created a task, and a second one would be paid for as well.
FAILOVER_KINDS = frozenset({ErrorKind.RATE_LIMITED, ErrorKind.TRANSIENT, ErrorKind.NO_KEY, ErrorKind.UNSUPPORTED})

NO_PROVIDER = "no video provider is configured (set RUNWAY_API_KEY(S) or FAL_API_KEY(S))"


def submit_order(configured: Iterable[str]) -> list[str]:
    """The configured providers, primary first."""
    names = set(configured)
    return [name for name in PREFERENCE if name in names]


def fails_over(error: ProviderError) -> bool:
    """Whether a refused submit should be tried on the next provider (the provider is unavailable to us, as opposed
    to a request it will never accept)."""
    return error.kind in FAILOVER_KINDS
