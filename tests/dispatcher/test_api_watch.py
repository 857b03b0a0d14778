"""`WatchJob` follows the job event log through PostgreSQL NOTIFY and ends at its lifetime; the API decodes a large
logo without holding the event loop.

The stack here is tuned so that timing cannot pass a test by accident: a stream lives `LIFETIME_S` and looks by
itself only every ten minutes, so any update that arrives within its life came by NOTIFY; the logo pixel cap is
raised so that a large logo passes the header check and really is decoded.

Jobs are written straight into the dispatcher's tables: a job that nothing else touches is the only way to see
what a stream does by itself (a pipeline run would log events of its own).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import grpc
import psycopg
import pytest
from PIL import Image
from sqlalchemy import event, insert, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from dispatcher import repository as repo
from dispatcher.models import job_events, jobs
from dispatcher.views import job_message
from dispatcher.watch import JobEventFeed, JobWatch, WatchSettings
from social_video.v1 import brands_pb2, jobs_pb2
from social_video.v1 import common_pb2 as c
from svd.db import create_engine, session_factory
from svd.ids import short_id
from svd.timeutil import utcnow
from svd_stack.client import StackClient
from tests.conftest import RunningStack, running_stack

LIFETIME_S = 10
BIG_LOGO_SIDE = 8192


@pytest.fixture(scope="module")
def tuned() -> Iterator[RunningStack]:
    with running_stack(
        WATCH_MAX_LIFETIME_S=str(LIFETIME_S),
        WATCH_FALLBACK_POLL_S="600",
        BRAND_LOGO_MAX_PIXELS=str(BIG_LOGO_SIDE * BIG_LOGO_SIDE),
    ) as running:
        yield running


@pytest.fixture
async def engine(tuned: RunningStack) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(tuned.info["database_url"], pool_size=2)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def admin(tuned: RunningStack) -> AsyncIterator[StackClient]:
    client = StackClient(tuned.info)
    try:
        yield client
    finally:
        await client.close()


async def quiet_job(engine: AsyncEngine) -> str:
    """A running job, polling at 40 %, that no service will touch."""
    job_id, now = f"job-{short_id(12)}", utcnow()
    async with engine.begin() as connection:
        await connection.execute(
            insert(jobs).values(
                job_id=job_id,
                tenant_id=f"t-{short_id(8)}",
                social_post_id=f"p-{short_id(8)}",
                source_event_id=f"evt-{short_id()}",
                run=1,
                status="running",
                step="polling",
                progress=40,
                wake_reason="copy_approved",
                platform="instagram",
                platform_format="reel",
                content_type="educational",
                copy={"headline": "Quiet"},
                duration_seconds=5,
                aspect_ratio="9:16",
                with_audio=False,
                created_at=now,
                updated_at=now,
                deadline_at=now + timedelta(hours=1),
            )
        )
    return job_id


async def log_event(engine: AsyncEngine, job_id: str, message: str, **changes: Any) -> None:
    """What a use case does: change the job and log it, in one transaction."""
    async with engine.begin() as connection:
        if changes:
            await connection.execute(update(jobs).where(jobs.c.job_id == job_id).values(**changes))
        metadata = {"step": changes["step"], "percent": changes["progress"]} if "step" in changes else {}
        await connection.execute(
            insert(job_events).values(job_id=job_id, level="info", message=message, metadata=metadata, time=utcnow())
        )


async def test_a_watch_ends_cleanly_at_its_lifetime(
    tuned: RunningStack, engine: AsyncEngine, admin: StackClient
) -> None:
    job_id = await quiet_job(engine)
    started = asyncio.get_running_loop().time()
    # Without a lifetime the stream of a job that never moves would never end: the wait_for would fail.
    updates = await asyncio.wait_for(_collect(admin.watch(job_id)), LIFETIME_S + 120)
    assert asyncio.get_running_loop().time() - started >= LIFETIME_S - 1
    assert len(updates) == 1, updates
    assert updates[0].job.job_id == job_id and not updates[0].terminal
    assert (updates[0].step, updates[0].percent) == (c.JOB_STEP_POLLING, 40)


async def test_a_watch_hears_each_change_by_notify(
    tuned: RunningStack, engine: AsyncEngine, admin: StackClient
) -> None:
    job_id = await quiet_job(engine)
    stream = admin.watch(job_id)
    opening = await anext(stream)
    assert (opening.step, opening.percent) == (c.JOB_STEP_POLLING, 40)

    # The stream's own look is ten minutes away and its life ends in LIFETIME_S: only a notification can bring this.
    await log_event(engine, job_id, "Provider is rendering", step="polling", progress=70)
    moved = await asyncio.wait_for(anext(stream), LIFETIME_S + 60)
    assert (moved.step, moved.percent, moved.label, moved.terminal) == (
        c.JOB_STEP_POLLING,
        70,
        "Provider is rendering",
        False,
    )

    await log_event(engine, job_id, "Video stored", step="done", progress=100, status="succeeded")
    rest = await asyncio.wait_for(_collect(stream), LIFETIME_S + 60)
    assert rest[-1].terminal and rest[-1].job.status == c.JOB_STATUS_SUCCEEDED
    assert [(u.step, u.percent) for u in rest] == [(c.JOB_STEP_DONE, 100)] * len(rest)


async def test_the_feed_wakes_only_its_jobs_watchers_and_survives_losing_its_connection(
    tuned: RunningStack, engine: AsyncEngine
) -> None:
    url = tuned.info["database_url"]
    async with JobEventFeed.open(url, WatchSettings(watch_reconnect_max_s=1)) as feed:
        await asyncio.wait_for(feed.connected.wait(), 60)
        one, other = await quiet_job(engine), await quiet_job(engine)
        with feed.subscribe(one) as watching_one, feed.subscribe(other) as watching_other:
            await log_event(engine, one, "something happened")
            assert await watching_one.wait(60)
            assert not await watching_other.wait(0)

            # The listener's connection dies (a PostgreSQL restart, a proxy timeout): what was written meanwhile is
            # unknown, so every watcher is woken once it is back, and notifications flow again.
            assert feed.backend_pid is not None
            with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as sql:
                sql.execute("SELECT pg_terminate_backend(%s)", (feed.backend_pid,))
            assert await watching_one.wait(60) and await watching_other.wait(60)
            assert feed.connections == 2
            await log_event(engine, other, "something else happened")
            assert await watching_other.wait(60)
            assert not await watching_one.wait(0)


async def test_a_quiet_watch_costs_no_queries(tuned: RunningStack, engine: AsyncEngine) -> None:
    """The old stream ran three queries every 250 ms; one that waits for notifications reads only when woken."""
    queries: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *args: queries.append(args[2]))
    job_id = await quiet_job(engine)

    async def read_job(session: AsyncSession, job_id: str) -> jobs_pb2.Job:
        return job_message(await repo.job(session, job_id))

    settings = WatchSettings(watch_max_lifetime_s=4, watch_fallback_poll_s=600)
    async with JobEventFeed.open(tuned.info["database_url"], settings) as feed:
        await asyncio.wait_for(feed.connected.wait(), 60)
        watch = JobWatch(session_factory(engine), feed, settings)
        queries.clear()
        updates = await _collect(watch.follow(job_id, read_job))
    assert len(updates) == 1
    assert len(queries) <= 2, queries  # the opening read (job and event log), then nothing for the whole life


def slow_logo() -> bytes:
    """A PNG at the side limit whose last bytes are missing: 200 KB on the wire, a second or more of decoding (201 MB
    of pixels) before the decoder finds the truncation, and then nothing else to do (no upload, no database)."""
    buffer = io.BytesIO()
    Image.new("RGB", (BIG_LOGO_SIDE, BIG_LOGO_SIDE), (20, 33, 61)).save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()[:-100]


async def test_a_large_logo_is_decoded_without_holding_the_event_loop(engine: AsyncEngine, admin: StackClient) -> None:
    job_id = await quiet_job(engine)
    await admin.get_job(job_id)  # connection warm
    assets = brands_pb2.BrandAssets(
        tenant_id=f"t-{short_id(8)}",
        primary_color="#14213D",
        secondary_color="#2E4A8C",
        accent_color="#FCA311",
        logo_png=await asyncio.to_thread(slow_logo),
    )
    put = asyncio.ensure_future(admin.brands.PutBrandAssets(brands_pb2.PutBrandAssetsRequest(assets=assets)))
    answered_meanwhile = 0
    while not put.done():
        await admin.get_job(job_id)
        answered_meanwhile += not put.done()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await put
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "corrupt image data" in (caught.value.details() or "")
    # Decoding on the loop would have held every other call until it was done.
    assert answered_meanwhile >= 3, f"only {answered_meanwhile} GetJob answered while the logo was decoded"


async def _collect(stream: AsyncIterator[jobs_pb2.WatchJobResponse]) -> list[jobs_pb2.WatchJobResponse]:
    try:
        return [item async for item in stream]
    except grpc.aio.AioRpcError as exc:  # pragma: no cover - the message says which status ended it
        raise AssertionError(f"the stream ended with {exc.code()}: {exc.details()}") from exc
