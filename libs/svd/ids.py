"""Identifier helpers: new ids and the deterministic message ids that make retried publishes idempotent."""

from __future__ import annotations

import uuid

from nanoid import generate

# URL-safe alphabet without look-alike characters, so object keys are readable in consoles.
_ALPHABET = "0123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"


def new_id() -> str:
    """A new random UUID string (job, media, reservation ids)."""
    return str(uuid.uuid4())


def short_id(size: int = 21) -> str:
    """A nanoid, as used in object keys."""
    return str(generate(_ALPHABET, size))


def message_id(job_id: str, step: str, run: int = 0, attempt: int | str = 0) -> str:
    """Deterministic `Nats-Msg-Id` for a pipeline publish: the same job, step, run and attempt give the same id."""
    return f"{job_id}:{run}:{step}:{attempt}"
