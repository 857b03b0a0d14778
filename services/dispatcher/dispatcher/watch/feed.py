"""The job event change-feed: one PostgreSQL `LISTEN` connection per dispatcher process, fanned out to the streams
watching each job.

A trigger on `dispatcher.job_events` (migration 0003) sends `NOTIFY svd_job_events, '<job_id>'` for every event
written; PostgreSQL delivers it when the writing transaction commits, to every replica's listener. A stream
subscribes to its job and wakes on a notification instead of polling the database.

Other channels can ride on the same connection (`topics`: channel → topic): each of their notifications wakes the
subscriptions of that topic (admission's `svd_admission`, which moves waiting jobs, wakes the admission loop and
the streams showing a queue position).

Notifications are a hint, never the data: a stream re-reads the log when woken. A notification sent while the
listener was disconnected is lost, so after every (re)connection all subscribers are woken once, and streams still
look every few seconds by themselves (see `JobWatch`), so a lost notification only delays an update.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator, Mapping

import psycopg

from dispatcher.watch.settings import WatchSettings
from svd.db.pool import conninfo

log = logging.getLogger(__name__)

CHANNEL = "svd_job_events"
_FIRST_RETRY_S = 0.5
_CHECK_TIMEOUT_S = 10.0


class Subscription:
    """One stream's interest in one job: set when a change may have happened since the last `wait`."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self._changed = asyncio.Event()

    def notify(self) -> None:
        self._changed.set()

    async def wait(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for a change; True when there was one. The flag is cleared, so a change that arrives
        while the caller reads the log wakes the next `wait` at once."""
        if not self._changed.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout_s)
        changed = self._changed.is_set()
        self._changed.clear()
        return changed


class JobEventFeed:
    """Fans `svd_job_events` notifications out to the subscriptions of each job; keeps its connection up."""

    def __init__(
        self, database_url: str, settings: WatchSettings | None = None, topics: Mapping[str, str] | None = None
    ) -> None:
        settings = settings or WatchSettings()
        self._topics = dict(topics or {})
        self._conninfo = conninfo(database_url)
        self._check_s = settings.watch_listener_check_s
        self._reconnect_max_s = settings.watch_reconnect_max_s
        self._subscriptions: dict[str, set[Subscription]] = {}
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.connections = 0  # how many times the listener connected (observability and tests)
        self.backend_pid: int | None = None  # the listener's PostgreSQL backend, while connected

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, database_url: str, settings: WatchSettings | None = None, topics: Mapping[str, str] | None = None
    ) -> AsyncIterator[JobEventFeed]:
        """Run the listener for the duration of the `async with` (it connects in the background and never fails the
        caller: until it is up, streams fall back to their slow poll)."""
        feed = cls(database_url, settings, topics)
        feed._task = asyncio.create_task(feed._listen(), name="job-event-feed")
        try:
            yield feed
        finally:
            feed._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feed._task

    @contextlib.contextmanager
    def subscribe(self, job_id: str, *topics: str) -> Iterator[Subscription]:
        """Wake on changes of `job_id` (and of any of `topics`)."""
        subscription = Subscription(job_id)
        keys = (job_id, *topics)
        for key in keys:
            self._subscriptions.setdefault(key, set()).add(subscription)
        try:
            yield subscription
        finally:
            for key in keys:
                waiting = self._subscriptions.get(key)
                if waiting is not None:
                    waiting.discard(subscription)
                    if not waiting:
                        del self._subscriptions[key]

    def publish(self, job_id: str) -> None:
        """Wake the subscriptions of `job_id` (what a notification does)."""
        for subscription in self._subscriptions.get(job_id, ()):
            subscription.notify()

    def _wake_all(self) -> None:
        for subscriptions in self._subscriptions.values():
            for subscription in subscriptions:
                subscription.notify()

    async def _listen(self) -> None:
        delay = _FIRST_RETRY_S
        while True:
            before = self.connections
            try:
                await self._session()
            except (psycopg.Error, OSError) as exc:
                log.warning("job event feed: listener connection lost or refused (%s); retrying", exc)
            finally:
                self.connected.clear()
                self.backend_pid = None
            if self.connections != before:
                delay = _FIRST_RETRY_S  # it was up: reconnect promptly, back off only while it stays down
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._reconnect_max_s)

    async def _session(self) -> None:
        """One listener connection, until it fails. A quiet connection is checked every `check_s`: a half-open TCP
        connection would otherwise wait for notifications forever."""
        async with await psycopg.AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=10,
            application_name="dispatcher-job-event-feed",
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
        ) as connection:
            for channel in (CHANNEL, *self._topics):
                await connection.execute(f"LISTEN {channel}")
            self.connections += 1
            self.backend_pid = connection.info.backend_pid
            self.connected.set()
            self._wake_all()  # anything written while nobody listened
            log.info("job event feed: listening on %s", CHANNEL)
            while True:
                async with contextlib.aclosing(connection.notifies(timeout=self._check_s)) as notifies:
                    async for notification in notifies:
                        topic = self._topics.get(notification.channel)
                        self.publish(notification.payload if topic is None else topic)
                await asyncio.wait_for(connection.execute("SELECT 1"), _CHECK_TIMEOUT_S)
