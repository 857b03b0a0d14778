"""Adapters to the other services the dispatcher calls over gRPC (billing, media-store).

gRPC failures are translated to domain errors here, so use cases see `FailedPrecondition` ("insufficient
credits: …") or `Unavailable`, never `AioRpcError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from social_video.v1 import billing_pb2, billing_pb2_grpc, media_pb2, media_pb2_grpc
from social_video.v1 import common_pb2 as c
from svd.grpc.client import translate

CREDIT_TYPE = "ai_video_generation"


@dataclass(frozen=True)
class HoldInfo:
    reservation_id: str
    amount: int


class BillingClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = billing_pb2_grpc.BillingStub(channel)

    async def quote(self, provider: c.VideoProvider.ValueType, duration_seconds: int) -> int:
        try:
            response = await self._stub.Quote(
                billing_pb2.QuoteRequest(provider=provider, duration_seconds=duration_seconds), timeout=10
            )
        except grpc.aio.AioRpcError as exc:
            raise translate(exc) from exc
        return int(response.amount)

    async def balance(self, tenant_id: str) -> billing_pb2.Balance:
        try:
            response = await self._stub.GetBalance(
                billing_pb2.GetBalanceRequest(tenant_id=tenant_id, credit_type=CREDIT_TYPE), timeout=10
            )
        except grpc.aio.AioRpcError as exc:
            raise translate(exc) from exc
        return response.balance

    async def reserve(self, tenant_id: str, amount: int, idempotency_key: str, job_id: str, ttl_s: int) -> HoldInfo:
        try:
            response = await self._stub.Reserve(
                billing_pb2.ReserveRequest(
                    tenant_id=tenant_id,
                    credit_type=CREDIT_TYPE,
                    amount=amount,
                    idempotency_key=idempotency_key,
                    job_id=job_id,
                    ttl_seconds=ttl_s,
                ),
                timeout=10,
            )
        except grpc.aio.AioRpcError as exc:
            raise translate(exc) from exc
        return HoldInfo(response.reservation.reservation_id, int(response.reservation.amount))

    async def consume(self, reservation_id: str, amount: int) -> int:
        """Consume `amount` of the hold (the rest is released); what the ledger actually charged."""
        try:
            response = await self._stub.Consume(
                billing_pb2.ConsumeRequest(reservation_id=reservation_id, amount=amount), timeout=10
            )
        except grpc.aio.AioRpcError as exc:
            raise translate(exc) from exc
        return int(response.reservation.consumed_amount)

    async def release(self, reservation_id: str, reason: str) -> None:
        try:
            await self._stub.Release(
                billing_pb2.ReleaseRequest(reservation_id=reservation_id, reason=reason), timeout=10
            )
        except grpc.aio.AioRpcError as exc:
            raise translate(exc) from exc


class MediaClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = media_pb2_grpc.MediaStub(channel)

    async def unlink(self, tenant_id: str, social_post_id: str, reason: str, media_id: str = "") -> int:
        """Unlink the post's media (only `media_id`, when given); the number of records unlinked."""
        request = media_pb2.UnlinkMediaRequest(
            tenant_id=tenant_id, social_post_id=social_post_id, reason=reason, media_id=media_id
        )
        try:
            response = await self._stub.UnlinkMedia(request, timeout=10)
        except grpc.aio.AioRpcError as exc:
            raise translate(exc) from exc
        return len(response.media)
