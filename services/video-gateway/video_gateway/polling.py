"""The poll schedule (pure): which check is due, how long until the next one, and when polling must stop.

The schedule is anchored at the submission time, never at delivery counts: check `k` (1-based) is due
`initial_delay_s + (k - 1) * interval_s` after submission. A redelivery after a crash therefore performs the check
whose time has come (it does not count as an extra one), and a delay is always computed afresh from the anchor,
so checks do not drift however late a single delivery was. After check `max_checks` the job has timed out.

The window starts when the provider starts the task: while it waits in the provider's own queue (Runway THROTTLED
or PENDING, fal IN_QUEUE) no check counts, and once it is seen started the clock reads as if it had been submitted
`initial_delay_s` before that (`elapsed_since`), so throttling never times a job out — up to `queue_max_s` of
waiting (`waited_too_long`), the hard ceiling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

# A redelivery may arrive a hair before its due time (clock granularity): treat it as on time.
EARLY_TOLERANCE_S = 0.05


class ErrorKind(StrEnum):
    """How a failed status call should be treated by the loop."""

    TRANSIENT = "transient"  # 5xx, timeouts, connection errors: try at the next tick
    RATE_LIMITED = "rate_limited"  # 429 (or every key cooling down): try after Retry-After


@dataclass(frozen=True)
class PollSchedule:
    initial_delay_s: float
    interval_s: float
    max_checks: int
    # The longest a task may wait in the provider's queue before it starts (then the job times out).
    queue_max_s: float = 1800.0

    def elapsed_since(self, since_submit_s: float, since_start_s: float | None) -> float:
        """The schedule's clock: time since submission until the task is seen started, then time since its start
        plus the first check's delay (its first check after starting is check 1, its window a whole one)."""
        return since_submit_s if since_start_s is None else self.initial_delay_s + max(0.0, since_start_s)

    def waited_too_long(self, since_submit_s: float) -> bool:
        """A task still not started this long after submission has waited in the provider's queue past the ceiling."""
        return since_submit_s >= self.initial_delay_s + self.queue_max_s

    def next_queue_check(self) -> float:
        """Delay before the next check of a task waiting in the provider's queue."""
        return self.interval_s

    def due_at(self, check: int) -> float:
        """Seconds after submission at which check `check` (1-based) is due."""
        return self.initial_delay_s + (check - 1) * self.interval_s

    @property
    def window_s(self) -> float:
        """Seconds after submission of the last check."""
        return self.due_at(max(1, self.max_checks))

    def first_due_in(self, elapsed_s: float) -> float:
        """Seconds until the first check (0 when it is due)."""
        return 0.0 if elapsed_s + EARLY_TOLERANCE_S >= self.initial_delay_s else self.initial_delay_s - elapsed_s

    def check_due(self, elapsed_s: float, checks_made: int) -> int:
        """The number of the check being made `elapsed_s` after submission, at most `max_checks`.

        `checks_made` counts status calls made so far including this one; it decides only when the interval is
        zero (every delivery is then a check), otherwise the time since submission does.
        """
        if self.interval_s <= 0:
            return max(1, min(self.max_checks, checks_made))
        elapsed = max(0.0, elapsed_s + EARLY_TOLERANCE_S - self.initial_delay_s)
        return min(self.max_checks, 1 + math.floor(elapsed / self.interval_s))

    def wait_for(self, check: int, elapsed_s: float) -> float:
        """Seconds from now (`elapsed_s` after submission) until check `check` is due (0 if it already is)."""
        return max(0.0, self.due_at(check) - elapsed_s)

    def exhausted(self, check: int) -> bool:
        """True once `check` was the last one allowed."""
        return check >= self.max_checks

    def after_error(self, check: int, elapsed_s: float, kind: ErrorKind, retry_after_s: float | None) -> float | None:
        """Delay before retrying after a failed status call for `check`; None when polling must stop (timeout).

        Transient errors wait for the next tick; a rate limit waits as long as the provider asked (or until the next
        tick when it did not say), but never past the interval after the last check.
        """
        if kind is ErrorKind.RATE_LIMITED and retry_after_s is not None:
            delay = max(0.0, retry_after_s)
            return delay if elapsed_s + delay <= self.window_s + self.interval_s else None
        if self.exhausted(check):
            return None
        return self.wait_for(check + 1, elapsed_s)
