"""Environment overlay for child processes: what wins when the user, the stack and a component disagree.

Precedence (lowest to highest): stack defaults < the user's own environment < forced values.
Forced values are the connection settings that must point at the embedded stack (NATS_URL,
DATABASE_URL, GRPC_LISTEN, DO_SPACES_*); everything else the stack suggests is a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Exports:
    """Environment a component contributes to the services: `forced` beats the user, `defaults` do not."""

    forced: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, str] = field(default_factory=dict)


def overlay(
    base: Mapping[str, str],
    *,
    forced: Mapping[str, str] = {},
    defaults: Mapping[str, str] = {},
) -> dict[str, str]:
    """`defaults`, then the user's `base` environment on top, then `forced` on top of everything."""
    return {**defaults, **base, **forced}


def merge(exports: list[Exports]) -> Exports:
    """Combine several components' exports (later ones win within the same tier)."""
    forced: dict[str, str] = {}
    defaults: dict[str, str] = {}
    for item in exports:
        forced.update(item.forced)
        defaults.update(item.defaults)
    return Exports(forced=forced, defaults=defaults)
