"""Provider concurrency caps (pure): whether a submit may go to a provider now, and what a waiting job shows.

A provider account runs only so many tasks at once (`RUNWAY_MAX_IN_FLIGHT`, `KLING_MAX_IN_FLIGHT`; 0: no cap). A task
is in flight from the moment its submit holds a slot (the submission row names the provider) until the gateway ends
its run (succeeded, failed, cancelled, timed out). The count is the gateway's own, in its database, taken under a lock
per provider, so replicas share it; a submit that finds every slot taken waits (its message is redelivered later) and
is never sent over another provider because of a cap: the provider would only have queued it.
"""

from __future__ import annotations

from dataclasses import dataclass

DISPLAY = {"runway": "Runway", "kling": "Kling"}


@dataclass(frozen=True)
class Full:
    """Every slot of `provider` is taken: the submit waits."""

    provider: str
    in_flight: int
    cap: int

    @property
    def label(self) -> str:
        name = DISPLAY.get(self.provider, self.provider)
        return f"Waiting for {name}'s concurrency: {self.in_flight} of {self.cap} tasks in flight"


def has_room(in_flight: int, cap: int) -> bool:
    """Whether one more task may start at a provider with `in_flight` tasks running and a cap of `cap` (0: none)."""
    return cap <= 0 or in_flight < cap
