"""API keys each simulated provider accepts, and which tasks each key may see, changeable at run time.

Seeded from ``PROVIDER_SIM_RUNWAY_KEYS`` / ``PROVIDER_SIM_FAL_KEYS`` (unset
means any non-empty key is accepted). ``POST /_sim/keys`` adds keys, revokes
keys (answered 401 from then on, as a deleted key is) and restores them, so a
test can exercise a client's key pool without restarting the simulator.

Task scope (``PROVIDER_SIM_TASK_SCOPE``, or ``task_scope`` in a key change):
``shared`` (default) puts every key in one organisation, so any key sees any
task; ``key`` makes each key its own organisation, as keys of different
Runway organisations or fal accounts are: a status, result or cancel call with
a key other than the submitting one is answered 404, exactly as for an
unknown task.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from provider_sim.settings import SimSettings

Provider = Literal["runway", "fal"]
PROVIDERS: tuple[Provider, ...] = ("runway", "fal")
Scope = Literal["shared", "key"]


class KeyChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: Provider
    add: list[str] = Field(default_factory=list)
    revoke: list[str] = Field(default_factory=list)
    restore: list[str] = Field(default_factory=list)
    task_scope: Scope | None = None


class KeyRing:
    def __init__(self, settings: SimSettings) -> None:
        self._accepted: dict[str, set[str] | None] = {}
        for provider in PROVIDERS:
            seeded = settings.accepted_keys(provider)
            self._accepted[provider] = set(seeded) if seeded is not None else None
        self._revoked: dict[str, set[str]] = {provider: set() for provider in PROVIDERS}
        self._scope: dict[str, Scope] = dict.fromkeys(PROVIDERS, settings.task_scope)

    def accepts(self, provider: str, key: str) -> bool:
        if not key or key in self._revoked[provider]:
            return False
        accepted = self._accepted[provider]
        return accepted is None or key in accepted

    def sees(self, provider: str, key: str | None, owner: str | None) -> bool:
        """Whether a call made with `key` may see a task submitted with `owner`."""
        return self._scope[provider] == "shared" or key == owner

    def add(self, provider: str, keys: Iterable[str]) -> None:
        accepted = self._accepted[provider]
        if accepted is not None:  # None accepts every key already
            accepted.update(k for k in keys if k)

    def revoke(self, provider: str, keys: Iterable[str]) -> None:
        self._revoked[provider].update(k for k in keys if k)

    def restore(self, provider: str, keys: Iterable[str]) -> None:
        self._revoked[provider].difference_update(keys)

    def apply(self, change: KeyChange) -> None:
        self.add(change.provider, change.add)
        self.restore(change.provider, change.restore)
        self.revoke(change.provider, change.revoke)
        if change.task_scope is not None:
            self._scope[change.provider] = change.task_scope

    def snapshot(self) -> dict[str, Any]:
        return {
            provider: {
                "accepted": None if self._accepted[provider] is None else sorted(self._accepted[provider] or ()),
                "revoked": sorted(self._revoked[provider]),
                "task_scope": self._scope[provider],
            }
            for provider in PROVIDERS
        }
