"""gRPC `Operations` of the dispatcher: operator tools, for admin keys only (a tenant key is refused)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatcher.operations import costs
from dispatcher.operations import letters as dl
from dispatcher.operations.dead_letters import DeadLetters
from social_video.v1 import operations_pb2, operations_pb2_grpc
from svd.errors import InvalidArgument
from svd.grpc.auth import Principal, principal
from svd.timeutil import from_timestamp


def _admin() -> Principal:
    caller = principal()
    caller.require_admin()
    return caller


class OperationsServicer(operations_pb2_grpc.OperationsServicer):
    def __init__(self, dead_letters: DeadLetters, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._letters = dead_letters
        self._sessions = sessions

    async def ListDeadLetters(
        self, request: operations_pb2.ListDeadLettersRequest, context: Any
    ) -> operations_pb2.ListDeadLettersResponse:
        _admin()
        since = from_timestamp(request.since) if request.HasField("since") else None
        found, token = await self._letters.page(request.subject, since, request.limit, request.page_token)
        return operations_pb2.ListDeadLettersResponse(
            letters=[dl.summary(letter, job_id) for letter, job_id in found], next_page_token=token
        )

    async def GetDeadLetter(
        self, request: operations_pb2.GetDeadLetterRequest, context: Any
    ) -> operations_pb2.GetDeadLetterResponse:
        _admin()
        letter, job_id, replays = await self._letters.show(request.id)
        return operations_pb2.GetDeadLetterResponse(letter=dl.detail(letter, job_id, replays))

    async def ReplayDeadLetters(
        self, request: operations_pb2.ReplayDeadLettersRequest, context: Any
    ) -> operations_pb2.ReplayDeadLettersResponse:
        caller = _admin()
        since = from_timestamp(request.since) if request.HasField("since") else None
        replayed = await self._letters.replay(
            caller.key_id, request.request_id, request.id, request.subject, since, request.limit
        )
        return operations_pb2.ReplayDeadLettersResponse(
            replayed=[
                operations_pb2.ReplayedLetter(
                    id=item.letter.id,
                    original_subject=item.letter.subject,
                    message_id=item.message_id,
                    duplicate=item.duplicate,
                    job_id=item.job_id,
                )
                for item in replayed
            ]
        )

    async def PurgeDeadLetters(
        self, request: operations_pb2.PurgeDeadLettersRequest, context: Any
    ) -> operations_pb2.PurgeDeadLettersResponse:
        caller = _admin()
        if not request.HasField("before"):
            raise InvalidArgument("before is required")
        purged = await self._letters.purge(caller.key_id, from_timestamp(request.before), request.subject)
        return operations_pb2.PurgeDeadLettersResponse(purged=purged)

    async def SummarizeCosts(
        self, request: operations_pb2.SummarizeCostsRequest, context: Any
    ) -> operations_pb2.SummarizeCostsResponse:
        _admin()
        since = from_timestamp(request.since) if request.HasField("since") else None
        rows = await costs.summarize(self._sessions, since, request.by)
        return operations_pb2.SummarizeCostsResponse(
            rows=[
                operations_pb2.CostRow(
                    key=row.key or "",
                    jobs=row.jobs,
                    estimated_cost_usd=float(row.estimated),
                    actual_cost_usd=float(row.actual),
                    credits_consumed=int(row.credits),
                )
                for row in rows
            ]
        )
