"""Fault injection: what to break next, for whom, and how many times.

Configured through ``POST /_sim/faults`` (body = :class:`FaultConfig`). Each
fault group in a body is stored under the body's target (``provider``,
``key``, ``task_id``; each optional, unset = any) and counts down as it is
consumed, then switches itself off. Groups and targets are independent:
posting ``status_error`` for one key leaves a pending ``submit_status`` for
another untouched; posting the same group for the same target replaces it.
When several targets match a call, the most specific one is consumed.
``DELETE /_sim/faults`` clears everything.

HTTP faults (answered instead of the real response): ``submit_status``,
``status_error`` (Runway ``GET /v1/tasks/{id}``, fal ``.../status``),
``result_error`` (fal ``GET .../requests/{id}``), ``auth_error`` (any call
with the key), ``output_error`` (the download of a finished task's output, as
a CDN refusing for a while: the task and its output stay), ``cancel_error``
(Runway ``DELETE /v1/tasks/{id}``, fal ``PUT .../cancel``: the cancel is refused
and the task runs on, as from a provider that can no longer stop it).
``submit_delay_seconds`` accepts the submit (the task exists and runs) but
answers only that much later, as an overloaded API does: a
client that gave up waiting never learns the task id. Task faults (fixed on a task when it is submitted):
``task_outcome``/``failure_code``, ``corrupt_output``, ``expired_output``,
``throttle_seconds``, ``slow_seconds``, ``never_finish``.

Only touched from the event loop, so no locking is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

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

    # Target: which calls / tasks the faults of this body apply to (unset = any).
    provider: Literal["runway", "fal"] | None = None
    key: str | None = None
    task_id: str | None = None
    # HTTP faults.
    submit_status: int | None = Field(default=None, ge=400, le=599)
    submit_count: int = Field(default=1, ge=0)
    retry_after: int | None = Field(default=None, ge=0)
    submit_delay_seconds: float | None = Field(default=None, ge=0, le=3600)
    submit_delay_count: int = Field(default=1, ge=0)
    status_error: int | None = Field(default=None, ge=400, le=599)
    status_error_count: int = Field(default=1, ge=0)
    result_error: int | None = Field(default=None, ge=400, le=599)
    result_error_count: int = Field(default=1, ge=0)
    output_error: int | None = Field(default=None, ge=400, le=599)
    output_error_count: int = Field(default=1, ge=0)
    cancel_error: int | None = Field(default=None, ge=400, le=599)
    cancel_error_count: int = Field(default=1, ge=0)
    auth_error: Literal[401, 403] | None = None
    auth_error_count: int = Field(default=1, ge=0)
    # Task faults.
    task_outcome: Literal["FAILED"] | None = None
    task_outcome_count: int = Field(default=1, ge=0)
    failure_code: str | None = None
    failure: str | None = None
    corrupt_output: bool = False
    corrupt_output_count: int = Field(default=1, ge=0)
    expired_output: bool = False
    expired_output_count: int = Field(default=1, ge=0)
    throttle_seconds: float | None = Field(default=None, ge=0, le=3600)
    throttle_count: int = Field(default=1, ge=0)
    slow_seconds: float | None = Field(default=None, ge=0, le=3600)
    slow_count: int = Field(default=1, ge=0)
    never_finish: bool = False
    never_finish_count: int = Field(default=1, ge=0)

    @field_validator("provider", mode="before")
    @classmethod
    def _kling_is_fal(cls, value: object) -> object:
        return "fal" if value == "kling" else value


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


Target = tuple[str | None, str | None, str | None]  # provider, key, task_id


@dataclass
class _Counted:
    remaining: int
    value: Any


class FaultPlan:
    def __init__(self) -> None:
        self._groups: dict[tuple[str, Target], _Counted] = {}

    def reset(self) -> None:
        self._groups.clear()

    def apply(self, cfg: FaultConfig) -> None:
        given = cfg.model_fields_set
        target: Target = (cfg.provider, cfg.key, cfg.task_id)

        def put(group: str, count: int, value: Any) -> None:
            self._set((group, target), count, value)

        if cfg.submit_status is not None:
            put("submit", cfg.submit_count, HttpFault(cfg.submit_status, cfg.retry_after))
        if cfg.submit_delay_seconds is not None:
            put("submit_delay", cfg.submit_delay_count, cfg.submit_delay_seconds)
        if cfg.status_error is not None:
            put("status", cfg.status_error_count, HttpFault(cfg.status_error, cfg.retry_after))
        if cfg.result_error is not None:
            put("result", cfg.result_error_count, HttpFault(cfg.result_error, cfg.retry_after))
        if cfg.output_error is not None:
            put("output", cfg.output_error_count, HttpFault(cfg.output_error, cfg.retry_after))
        if cfg.cancel_error is not None:
            put("cancel", cfg.cancel_error_count, HttpFault(cfg.cancel_error, cfg.retry_after))
        if cfg.auth_error is not None:
            put("auth", cfg.auth_error_count, HttpFault(cfg.auth_error, None))
        if cfg.task_outcome is not None or cfg.failure_code is not None:
            code = cfg.failure_code or DEFAULT_FAILURE_CODE
            put("outcome", cfg.task_outcome_count, (code, cfg.failure or failure_message(code)))
        for flag in ("corrupt_output", "expired_output", "never_finish"):
            if getattr(cfg, flag) or flag in given:
                put(flag, getattr(cfg, f"{flag}_count") if getattr(cfg, flag) else 0, True)
        if cfg.throttle_seconds is not None:
            put("throttle", cfg.throttle_count, cfg.throttle_seconds)
        if cfg.slow_seconds is not None:
            put("slow", cfg.slow_count, cfg.slow_seconds)

    def _set(self, slot: tuple[str, Target], count: int, value: Any) -> None:
        if count <= 0:
            self._groups.pop(slot, None)
        else:
            self._groups[slot] = _Counted(count, value)

    def _take(self, group: str, provider: str | None, key: str | None, task_id: str | None = None) -> Any:
        best: tuple[int, tuple[str, Target]] | None = None
        for slot in self._groups:
            name, (p, k, t) = slot
            if name != group or p not in (None, provider) or k not in (None, key) or t not in (None, task_id):
                continue
            score = (p is not None) + 2 * (k is not None) + 4 * (t is not None)
            if best is None or score > best[0]:
                best = (score, slot)
        if best is None:
            return None
        counted = self._groups[best[1]]
        counted.remaining -= 1
        if counted.remaining <= 0:
            del self._groups[best[1]]
        return counted.value

    def take_submit_fault(self, provider: str = "runway", key: str | None = None) -> HttpFault | None:
        fault: HttpFault | None = self._take("submit", provider, key)
        return fault

    def take_submit_delay(self, provider: str, key: str | None) -> float:
        """Seconds an accepted submit waits before it answers (0: at once)."""
        return float(self._take("submit_delay", provider, key) or 0.0)

    def take_status_fault(
        self, provider: str = "runway", key: str | None = None, task_id: str | None = None
    ) -> HttpFault | None:
        fault: HttpFault | None = self._take("status", provider, key, task_id)
        return fault

    def take_result_fault(self, provider: str, key: str | None, task_id: str | None) -> HttpFault | None:
        fault: HttpFault | None = self._take("result", provider, key, task_id)
        return fault

    def take_cancel_fault(self, provider: str, key: str | None, task_id: str | None) -> HttpFault | None:
        fault: HttpFault | None = self._take("cancel", provider, key, task_id)
        return fault

    def take_output_fault(self, task_id: str) -> HttpFault | None:
        """A refusal of the output download of `task_id` (faults targeted at a provider or key do not apply: the
        download is an unauthenticated signed URL)."""
        fault: HttpFault | None = self._take("output", None, None, task_id)
        return fault

    def take_auth_fault(self, provider: str, key: str | None, task_id: str | None = None) -> HttpFault | None:
        fault: HttpFault | None = self._take("auth", provider, key, task_id)
        return fault

    def take_task_faults(self, provider: str = "runway", key: str | None = None) -> TaskFaults:
        """Faults for one newly accepted task (consumes one of each matching group)."""
        outcome = self._take("outcome", provider, key)
        return TaskFaults(
            failure_code=outcome[0] if outcome else None,
            failure=outcome[1] if outcome else None,
            corrupt_output=bool(self._take("corrupt_output", provider, key)),
            expired_output=bool(self._take("expired_output", provider, key)),
            never_finish=bool(self._take("never_finish", provider, key)),
            throttle_seconds=float(self._take("throttle", provider, key) or 0.0),
            task_seconds=float(self._take("slow", provider, key) or 0.0),
        )

    def snapshot(self) -> list[dict[str, Any]]:
        def render(value: Any) -> Any:
            if isinstance(value, HttpFault):
                return {"status": value.status, "retry_after": value.retry_after}
            if isinstance(value, tuple):
                return {"failure_code": value[0], "failure": value[1]}
            return value

        return [
            {"fault": name, "provider": p, "key": k, "task_id": t, "remaining": c.remaining, "value": render(c.value)}
            for (name, (p, k, t)), c in self._groups.items()
        ]
