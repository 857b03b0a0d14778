"""Use cases of dead letters for operators: list and show them, replay them to their original subjects, purge old
ones. Every replay and purge is recorded with the API key that did it (and, for a letter about a job, in that job's
event log).

A replay publishes the original payload and headers (so the trace continues) with a new message id derived from the
letter and the client's request id: repeating a request stores nothing twice (the stream's de-duplication, and the
record's unique request key), a new request replays again. The replayed message is handled like any other: if it
still cannot succeed it is dead-lettered again, as a new letter.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatcher import repository as repo
from dispatcher.operations import letters as dl
from dispatcher.operations import records
from dispatcher.operations.store import DeadLetterStore
from svd.db import transaction
from svd.errors import InvalidArgument

log = logging.getLogger(__name__)

MAX_PAGE = 200
DEFAULT_PAGE = 50
MAX_REPLAY = 1000
DEFAULT_REPLAY = 100
MAX_REQUEST_ID = 200
REPLAY = "dlq.replay"


@dataclass(frozen=True)
class Replayed:
    letter: dl.Letter
    message_id: str
    duplicate: bool
    job_id: str


def _limit(requested: int, default: int, maximum: int) -> int:
    return default if requested <= 0 else min(requested, maximum)


@dataclass
class DeadLetters:
    sessions: async_sessionmaker[AsyncSession]
    store: DeadLetterStore

    async def page(
        self, subject: str, since: datetime | None, limit: int, page_token: str
    ) -> tuple[list[tuple[dl.Letter, str]], str]:
        """A page of letters (oldest first) with the job each belongs to, and the next page's token."""
        found = await self._scan(dl.dlq_filter(subject), since, _limit(limit, DEFAULT_PAGE, MAX_PAGE), page_token)
        letters, next_sequence = found
        return [(letter, await self._job_of(letter)) for letter in letters], dl.page_token(next_sequence)

    async def show(self, letter_id: int) -> tuple[dl.Letter, str, list[Any]]:
        """A letter, the job it belongs to, and its recorded replays."""
        stored = await self.store.get(letter_id)
        letter = dl.read(stored.sequence, stored.data)
        async with self.sessions() as session:
            replays = await records.actions_on(session, REPLAY, dl.letter_target(letter_id))
        return letter, await self._job_of(letter), replays

    async def replay(
        self, key_id: str, request_id: str, letter_id: int, subject: str, since: datetime | None, limit: int
    ) -> list[Replayed]:
        """Replay one letter (`letter_id`) or every letter of `subject` since `since` (up to `limit`)."""
        request_id = request_id.strip()
        if not request_id or len(request_id) > MAX_REQUEST_ID:
            raise InvalidArgument(f"request_id is required (1-{MAX_REQUEST_ID} characters)")
        if bool(letter_id) == bool(subject.strip()):
            raise InvalidArgument("give exactly one of a letter id and a subject")
        if letter_id:
            chosen = [(await self.show(letter_id))[0]]
        else:
            chosen, _ = await self._scan(dl.dlq_filter(subject), since, _limit(limit, DEFAULT_REPLAY, MAX_REPLAY), "")
        return [await self._replay_one(key_id, request_id, letter) for letter in chosen]

    async def purge(self, key_id: str, before: datetime, subject: str) -> int:
        """Delete the letters older than `before` (of `subject`, or all); how many went."""
        subject_filter = dl.dlq_filter(subject)
        purged = await self.store.purge_before(await self.store.first_since(before), subject_filter)
        async with transaction(self.sessions) as session:
            await records.record(session, key_id, "dlq.purge", subject_filter, before=before.isoformat(), purged=purged)
        log.warning("operator %s purged %d dead letters of %s before %s", key_id, purged, subject_filter, before)
        return purged

    async def _replay_one(self, key_id: str, request_id: str, letter: dl.Letter) -> Replayed:
        message_id = dl.replay_message_id(letter.id, request_id)
        duplicate = await self.store.publish(
            letter.subject, letter.letter.payload, dl.replay_headers(letter, message_id)
        )
        job_id = await self._job_of(letter)
        async with transaction(self.sessions) as session:
            first = await records.record(
                session,
                key_id,
                REPLAY,
                dl.letter_target(letter.id),
                job_id=job_id,
                request_key=message_id,
                message=f"dead letter {letter.id} ({letter.subject}) replayed by an operator",
                letter_id=letter.id,
                subject=letter.subject,
                message_id=message_id,
                reason=letter.letter.reason,
            )
        if first:
            log.warning(
                "operator %s replayed dead letter %d to %s as %s", key_id, letter.id, letter.subject, message_id
            )
        return Replayed(letter, message_id, duplicate or not first, job_id)

    async def _scan(
        self, subject_filter: str, since: datetime | None, limit: int, page_token: str
    ) -> tuple[list[dl.Letter], int]:
        sequence = dl.parse_page_token(page_token) or 1
        if since is not None:
            sequence = max(sequence, await self.store.first_since(since))
        found: list[dl.Letter] = []
        while len(found) < limit:
            stored = await self.store.next(sequence, subject_filter)
            if stored is None:
                return found, 0
            if since is None or stored.time >= since:
                found.append(dl.read(stored.sequence, stored.data))
            sequence = stored.sequence + 1
        return found, sequence

    async def _job_of(self, letter: dl.Letter) -> str:
        """The job a letter belongs to, if it exists: named by a pipeline event, or created by an upstream event."""
        async with self.sessions() as session:
            row: Any | None = None
            if letter.job_id:
                row = await repo.job(session, letter.job_id)
            elif letter.event_id:
                row = await repo.job_by_event(session, letter.event_id)
        return row.job_id if row is not None else ""
