"""Fault injection: what to break next, and how many times.

Configured through ``POST /_sim/faults`` (body = :class:`FaultConfig`); each
fault group counts down as it is consumed and then switches itself off.
Groups are independent: posting only ``status_error`` leaves a pending
``submit_status`` fault untouched. ``DELETE /_sim/faults`` clears everything.

Only touched from the event loop, so no locking is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FAILURE_MESSAGES: dict[str, str] = {
    "SAFETY.INPUT.TEXT": "The prompt text did not pass content moderation.",
    "SAFETY.INPUT.IMAGE": "The input image did not pass content moderation.",
    "SAFETY.OUTPUT.VIDEO": "The generated video did not pass content moderation.",
    "INTERNAL.BAD_OUTPUT.CODE01": "An unexpected error occurred while generating the output. Please retry.",
    "ASSET.INVALID": "The input asset could not be fetched or decoded.",
    "INTERNAL": "An internal error occurred. Please try again later.",
}
DEFAULT_FAILURE_CODE = "INTERNAL.BAD_OUTPUT.CODE01"


def failure_message(code: str) -> str:
    return FAILURE_MESSAGES.get(code, f"The task failed ({code}).")


class FaultConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    submit_status: int | None = Field(default=None, ge=400, le=599)
    submit_count: int = Field(default=1, ge=0)
    retry_after: int | None = Field(default=None, ge=0)
    status_error: int | None = Field(default=None, ge=400, le=599)
    status_error_count: int = Field(default=1, ge=0)
    task_outcome: Literal["FAILED"] | None = None
    task_outcome_count: int = Field(default=1, ge=0)
    failure_code: str | None = None
    failure: str | None = None
    corrupt_output: bool = False
    corrupt_output_count: int = Field(default=1, ge=0)
    throttle_seconds: float | None = Field(default=None, ge=0, le=600)
    throttle_count: int = Field(default=1, ge=0)


@dataclass(frozen=True)
class HttpFault:
    status: int
    retry_after: int | None


@dataclass(frozen=True)
class TaskFaults:
    failure_code: str | None = None
    failure: str | None = None
    corrupt_output: bool = False
    throttle_seconds: float = 0.0
    task_seconds: float = 0.0
    never_finish: bool = False
    expired_output: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "failureCode": self.failure_code,
            "corruptOutput": self.corrupt_output,
            "throttleSeconds": self.throttle_seconds,
            "taskSeconds": self.task_seconds,
            "neverFinish": self.never_finish,
            "expiredOutput": self.expired_output,
        }


@dataclass
class _Counted:
    remaining: int
    value: Any


class FaultPlan:
    def __init__(self) -> None:
        self._groups: dict[str, _Counted] = {}

    def reset(self) -> None:
        self._groups.clear()

    def apply(self, cfg: FaultConfig) -> None:
        given = cfg.model_fields_set
        if cfg.submit_status is not None:
            self._set("submit", cfg.submit_count, HttpFault(cfg.submit_status, cfg.retry_after))
        if cfg.status_error is not None:
            self._set("status", cfg.status_error_count, HttpFault(cfg.status_error, cfg.retry_after))
        if cfg.task_outcome is not None or cfg.failure_code is not None:
            code = cfg.failure_code or DEFAULT_FAILURE_CODE
            self._set("outcome", cfg.task_outcome_count, (code, cfg.failure or failure_message(code)))
        if cfg.corrupt_output or "corrupt_output" in given:
            self._set("corrupt", cfg.corrupt_output_count if cfg.corrupt_output else 0, True)
        if cfg.throttle_seconds is not None:
            self._set("throttle", cfg.throttle_count, cfg.throttle_seconds)

    def _set(self, group: str, count: int, value: Any) -> None:
        if count <= 0:
            self._groups.pop(group, None)
        else:
            self._groups[group] = _Counted(count, value)

    def _take(self, group: str) -> Any:
        counted = self._groups.get(group)
        if counted is None:
            return None
        counted.remaining -= 1
        if counted.remaining <= 0:
            del self._groups[group]
        return counted.value

    def take_submit_fault(self) -> HttpFault | None:
        fault: HttpFault | None = self._take("submit")
        return fault

    def take_status_fault(self) -> HttpFault | None:
        fault: HttpFault | None = self._take("status")
        return fault

    def take_task_faults(self) -> TaskFaults:
        """Faults for one newly accepted task (consumes one of each active group)."""
        outcome = self._take("outcome")
        corrupt = self._take("corrupt")
        throttle = self._take("throttle")
        return TaskFaults(
            failure_code=outcome[0] if outcome else None,
            failure=outcome[1] if outcome else None,
            corrupt_output=bool(corrupt),
            throttle_seconds=float(throttle or 0.0),
        )

    def snapshot(self) -> dict[str, Any]:
        def render(value: Any) -> Any:
            if isinstance(value, HttpFault):
                return {"status": value.status, "retry_after": value.retry_after}
            if isinstance(value, tuple):
                return {"failure_code": value[0], "failure": value[1]}
            return value

        return {name: {"remaining": c.remaining, "value": render(c.value)} for name, c in self._groups.items()}
