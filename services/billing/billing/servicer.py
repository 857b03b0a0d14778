"""gRPC `social_video.v1.Billing`: translates requests to ledger use cases, scoped by the caller's key.

Money moves only by the platform: `Reserve`, `Consume`, `Release`, `Grant` and rate changes need an admin or
service key (the dispatcher's), so a tenant cannot release or under-consume its own job's hold. A tenant key reads
only its own account (`GetBalance`, `ListLedger`; anything else is NOT_FOUND) and the rates (`Quote`, `ListRates`).
"""

from __future__ import annotations

from typing import Any

from billing.domain import Balance, Hold, HoldState, Rate
from billing.ledger import Ledger
from social_video.v1 import billing_pb2, billing_pb2_grpc, common_pb2
from svd.errors import InvalidArgument, PermissionDenied
from svd.grpc.auth import principal
from svd.timeutil import from_timestamp, to_timestamp

_STATE = {
    HoldState.HELD: billing_pb2.RESERVATION_STATE_HELD,
    HoldState.CONSUMED: billing_pb2.RESERVATION_STATE_CONSUMED,
    HoldState.RELEASED: billing_pb2.RESERVATION_STATE_RELEASED,
    HoldState.EXPIRED: billing_pb2.RESERVATION_STATE_EXPIRED,
}
_PROVIDER = {common_pb2.VIDEO_PROVIDER_RUNWAY: "runway", common_pb2.VIDEO_PROVIDER_KLING: "kling"}
_PROVIDER_ENUM = {name: value for value, name in _PROVIDER.items()}
MAX_PAGE = 500
DEFAULT_PAGE = 100


def _balance(b: Balance) -> billing_pb2.Balance:
    return billing_pb2.Balance(
        tenant_id=b.tenant_id, credit_type=b.credit_type, balance=b.balance, held=b.held, available=b.available
    )


def _reservation(h: Hold) -> billing_pb2.Reservation:
    return billing_pb2.Reservation(
        reservation_id=h.reservation_id,
        tenant_id=h.tenant_id,
        credit_type=h.credit_type,
        amount=h.amount,
        state=_STATE[h.state],
        job_id=h.job_id,
        consumed_amount=h.consumed_amount,
        reason=h.reason,
        created_at=to_timestamp(h.created_at),
        expires_at=to_timestamp(h.expires_at),
    )


def _rate(r: Rate) -> billing_pb2.Rate:
    return billing_pb2.Rate(
        provider=_PROVIDER_ENUM.get(r.provider, common_pb2.VIDEO_PROVIDER_UNSPECIFIED),
        provider_name=r.provider,
        duration_seconds=r.duration_seconds,
        credit_type=r.credit_type,
        amount=r.amount,
        updated_at=to_timestamp(r.updated_at),
        updated_by=r.updated_by,
    )


def _provider(provider: common_pb2.VideoProvider.ValueType, provider_name: str) -> str:
    name = _PROVIDER.get(provider) or provider_name.strip().lower()
    if not name:
        raise InvalidArgument("provider or provider_name is required")
    return name


def _require_platform() -> None:
    """Refuse a credit movement or a rate change unless the caller holds an admin or service key."""
    if not principal().is_admin:
        raise PermissionDenied("this operation needs an admin or service API key: credits move only by the platform")


class BillingServicer(billing_pb2_grpc.BillingServicer):
    def __init__(self, ledger: Ledger, default_ttl_s: int) -> None:
        self._ledger = ledger
        self._default_ttl_s = default_ttl_s

    async def Reserve(self, request: billing_pb2.ReserveRequest, context: Any) -> billing_pb2.ReserveResponse:
        _require_platform()
        hold, balance = await self._ledger.reserve(
            request.tenant_id,
            request.credit_type,
            request.amount,
            request.idempotency_key,
            request.job_id,
            request.ttl_seconds or self._default_ttl_s,
        )
        return billing_pb2.ReserveResponse(reservation=_reservation(hold), balance=_balance(balance))

    async def Consume(self, request: billing_pb2.ConsumeRequest, context: Any) -> billing_pb2.ConsumeResponse:
        _require_platform()
        hold, balance = await self._ledger.consume(request.reservation_id, request.amount)
        return billing_pb2.ConsumeResponse(reservation=_reservation(hold), balance=_balance(balance))

    async def Release(self, request: billing_pb2.ReleaseRequest, context: Any) -> billing_pb2.ReleaseResponse:
        _require_platform()
        hold, balance = await self._ledger.release(request.reservation_id, request.reason)
        return billing_pb2.ReleaseResponse(reservation=_reservation(hold), balance=_balance(balance))

    async def GetBalance(self, request: billing_pb2.GetBalanceRequest, context: Any) -> billing_pb2.GetBalanceResponse:
        tenant_id = principal().scope_tenant(request.tenant_id)
        if not tenant_id:
            raise InvalidArgument("tenant_id is required")
        balance = await self._ledger.balance(tenant_id, request.credit_type)
        return billing_pb2.GetBalanceResponse(balance=_balance(balance))

    async def Grant(self, request: billing_pb2.GrantRequest, context: Any) -> billing_pb2.GrantResponse:
        _require_platform()
        balance = await self._ledger.grant(
            request.tenant_id, request.credit_type, request.amount, request.idempotency_key, request.reason
        )
        return billing_pb2.GrantResponse(balance=_balance(balance))

    async def ListLedger(self, request: billing_pb2.ListLedgerRequest, context: Any) -> billing_pb2.ListLedgerResponse:
        tenant_id = principal().scope_tenant(request.tenant_id)
        if not tenant_id:
            raise InvalidArgument("tenant_id is required")
        if request.limit < 0:
            raise InvalidArgument("limit must not be negative")
        limit = min(request.limit or DEFAULT_PAGE, MAX_PAGE)
        try:
            after = int(request.page_token or 0)
        except ValueError as exc:
            raise InvalidArgument("invalid page_token") from exc
        rows = await self._ledger.entries(
            tenant_id,
            request.credit_type,
            from_timestamp(request.start_time) if request.HasField("start_time") else None,
            from_timestamp(request.end_time) if request.HasField("end_time") else None,
            limit + 1,
            after,
        )
        entries = [
            billing_pb2.LedgerEntry(
                entry_id=str(r.entry_id),
                tenant_id=r.tenant_id,
                credit_type=r.credit_type,
                kind=r.kind,
                amount=r.amount,
                balance_after=r.balance_after,
                held_after=r.held_after,
                reservation_id=r.reservation_id or "",
                job_id=r.job_id,
                reason=r.reason,
                created_at=to_timestamp(r.created_at),
            )
            for r in rows[:limit]
        ]
        token = str(rows[limit - 1].entry_id) if len(rows) > limit else ""
        return billing_pb2.ListLedgerResponse(entries=entries, next_page_token=token)

    async def Quote(self, request: billing_pb2.QuoteRequest, context: Any) -> billing_pb2.QuoteResponse:
        principal()
        credit_type, amount = await self._ledger.quote(
            _provider(request.provider, request.provider_name), request.duration_seconds
        )
        return billing_pb2.QuoteResponse(credit_type=credit_type, amount=amount)

    async def SetRate(self, request: billing_pb2.SetRateRequest, context: Any) -> billing_pb2.SetRateResponse:
        _require_platform()
        rate = await self._ledger.set_rate(
            _provider(request.provider, request.provider_name),
            request.duration_seconds,
            request.credit_type,
            request.amount,
            "admin",
        )
        return billing_pb2.SetRateResponse(rate=_rate(rate))

    async def ListRates(self, request: billing_pb2.ListRatesRequest, context: Any) -> billing_pb2.ListRatesResponse:
        principal()
        return billing_pb2.ListRatesResponse(rates=[_rate(r) for r in await self._ledger.rates()])


# What a browser may ask billing over Connect: reading balances, the ledger, quotes and rates. Moving credits
# (Reserve, Consume, Release, Grant, SetRate) stays on gRPC, between services and operators.
CONNECT_METHODS = frozenset({"GetBalance", "ListLedger", "Quote", "ListRates"})


def binding(ledger: Ledger, default_ttl_s: int) -> Any:
    from social_video.v1 import billing_connect
    from svd.grpc.server import ServiceBinding

    return ServiceBinding(
        billing_pb2_grpc.add_BillingServicer_to_server,
        BillingServicer(ledger, default_ttl_s),
        billing_pb2.DESCRIPTOR.services_by_name["Billing"].full_name,
        billing_connect.BillingASGIApplication,
        CONNECT_METHODS,
    )
