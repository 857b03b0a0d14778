"""Housekeeping that runs at start-up and then periodically, safe with any number of replicas.

- Unfinished multipart uploads older than any live transfer can be: a crashed attempt's parts, aborted.
- Runs left `uploading` long after their last attempt (the job was given up on and dead-lettered): the sweep takes
  the run's lease like a worker would, deletes the objects the run may have left, and marks it failed, so nothing of
  an abandoned run stays in the bucket. A late redelivery then repeats `video.failed`.
- Objects an earlier version stored world-readable: their public-read ACL is withdrawn.
Each step logs and carries on when the store or the database is down: the next round does the rest.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from media_store.leases import Leases
from media_store.records import Records
from svd import keys
from svd.errors import NotFound
from svd.ids import new_id
from svd.storage import ObjectStore

log = logging.getLogger(__name__)
ABANDONED = "abandoned: the run was not finished before its job was given up on"


@dataclass(frozen=True)
class Sweeps:
    records: Records
    leases: Leases
    store: ObjectStore
    stale_s: float

    async def run_forever(self, every_s: float) -> None:
        while True:
            await self.once()
            await asyncio.sleep(every_s)

    async def once(self) -> None:
        for step in (self.stale_uploads, self.abandoned_runs, self.legacy_public_objects):
            try:
                await step()
            except Exception:
                log.warning("sweep %s failed; the next round retries it", step.__name__, exc_info=True)

    async def stale_uploads(self) -> None:
        for upload in await self.store.abort_uploads("tenants/", older_than=timedelta(seconds=self.stale_s)):
            log.info("aborted stale multipart upload of %s (started %s)", upload.key, upload.initiated)

    async def abandoned_runs(self) -> None:
        for run in await self.records.abandoned(self.stale_s):
            owner = f"sweep-{new_id()}"
            if not (await self.leases.acquire(run.media_id, owner)).acquired:
                continue  # a worker has just picked it up again
            try:
                await self.store.delete(keys.poster_key(run.object_key))
                await self.store.delete(run.object_key)
                await self.store.delete(keys.original_key(run.object_key))
            except BaseException:
                await self.leases.release_quietly(run.media_id, owner)
                raise
            if await self.records.finish_failed(run.media_id, owner, ABANDONED):
                log.info("deleted the objects of abandoned run %s (%s)", run.media_id, run.object_key)

    async def legacy_public_objects(self) -> None:
        while rows := await self.records.legacy_public():
            for row in rows:
                try:
                    await self.store.make_private(row.object_key)
                except NotFound:
                    pass  # nothing left to hide
                await self.records.mark_private(row.media_id)
            log.info("withdrew public access from %d object(s) stored public by an earlier version", len(rows))
