"""The poll schedule (pure): when the next check is due, and when a job has been polled long enough."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PollSchedule:
    initial_delay_s: float
    interval_s: float
    max_checks: int

    def wait_before_first_check(self, elapsed_s: float) -> float:
        """Seconds still to wait before the first check (0 when it is due)."""
        return max(0.0, self.initial_delay_s - elapsed_s)

    def check_number(self, num_delivered: int) -> int:
        """Which check a delivery is: the first delivery only schedules the first check when there is a delay."""
        return num_delivered - 1 if self.initial_delay_s > 0 else num_delivered

    def exhausted(self, check_number: int) -> bool:
        return check_number >= self.max_checks

    @property
    def window_s(self) -> float:
        return self.initial_delay_s + self.interval_s * max(0, self.max_checks - 1)
