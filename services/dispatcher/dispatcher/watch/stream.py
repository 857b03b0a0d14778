"""One `WatchJob` stream: the job now, then each progress change from its event log as it is written, then its end.
While the job waits for admission, each change of its queue position is sent too ("Waiting for a free slot: 2
ahead"): the stream also wakes when the queue moves.

The stream reads the database only when the job changed (a notification from `JobEventFeed`) or, as a fallback for
a lost notification, every `watch_fallback_poll_s`; a quiet job costs nothing in between. Following the log rather
than sampling the row means a step shorter than any interval is still seen, in order.

A stream lives at most `watch_max_lifetime_s`, then ends with status OK and no terminal update (a job stuck for
hours holds no stream forever); a client that still cares calls WatchJob again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatcher import repository as repo
from dispatcher.watch import progress
from dispatcher.watch.feed import JobEventFeed
from dispatcher.watch.settings import WatchSettings
from social_video.v1 import jobs_pb2

# Reads the job as the caller may see it (raises NotFound otherwise), in the given session.
JobReader = Callable[[AsyncSession, str], Awaitable[jobs_pb2.Job]]


class JobWatch:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        feed: JobEventFeed,
        settings: WatchSettings,
        queue_topic: str | None = None,
    ) -> None:
        """`queue_topic`: the feed topic woken when the admission queue moves (a waiting job's place changes then)."""
        self._sessions = sessions
        self._topics = (queue_topic,) if queue_topic else ()
        self._feed = feed
        self._lifetime_s = settings.watch_max_lifetime_s
        self._fallback_s = settings.watch_fallback_poll_s

    async def follow(self, job_id: str, read_job: JobReader) -> AsyncIterator[jobs_pb2.WatchJobResponse]:
        loop = asyncio.get_running_loop()
        ends_at = loop.time() + self._lifetime_s
        # Subscribed before the first read, so a change committed between that read and the first wait still wakes it.
        with self._feed.subscribe(job_id, *self._topics) as changes:
            async with self._sessions() as session:
                job = await read_job(session, job_id)
                history = await repo.events_after(session, job_id, 0)
            last_event = history[-1].event_id if history else 0
            opening, position = progress.first(job)
            yield opening
            while not progress.is_terminal(job):
                remaining = ends_at - loop.time()
                if remaining <= 0:
                    return
                changed = await changes.wait(min(self._fallback_s, remaining))
                if not changed and loop.time() >= ends_at:
                    return
                async with self._sessions() as session:
                    events = await repo.events_after(session, job_id, last_event)
                    job = await read_job(session, job_id)  # after the events: at least as new as they are
                if events:
                    last_event = events[-1].event_id
                updates, position = progress.advances(job, events, position)
                for item in updates:
                    yield item
                if (moved := progress.queue_moved(job, opening)) is not None:
                    opening = moved
                    yield moved
            yield progress.last(job)
