"""`WatchJob`: live progress streams that follow the job event log through PostgreSQL `LISTEN/NOTIFY`.

`JobEventFeed` is the one listener per process (open it in the app's wiring with `async with`), `JobWatch` runs each
stream, `progress` turns the job and its events into updates, `WatchSettings` holds the stream's lifetime and
fallback poll.
"""

from dispatcher.watch.feed import JobEventFeed, Subscription
from dispatcher.watch.settings import WatchSettings
from dispatcher.watch.stream import JobReader, JobWatch

__all__ = ["JobEventFeed", "JobReader", "JobWatch", "Subscription", "WatchSettings"]
