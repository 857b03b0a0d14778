"""A second media-store process with other settings, standing in for the stack's own (which is stopped meanwhile).

The stack forces its connection settings (`DO_SPACES_ENDPOINT` …) on the services it starts, so a test that needs
the media store to reach S3 through a fault proxy runs its own replica (`tests.replica`) with overrides; the stack's
media-store is started again when it ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.replica import Replica, service_replica

__all__ = ["Replica", "media_store_replica"]


@contextmanager
def media_store_replica(stack, log_dir: Path, **overrides: str) -> Iterator[Replica]:
    with service_replica(stack, "media_store", log_dir, instead=True, stop_grace_s=15.0, **overrides) as replica:
        yield replica
