"""gRPC `Webhooks`: a tenant's endpoints, their secrets and their deliveries, scoped like every dispatcher API.

A tenant key sees and changes only its own tenant's endpoints and deliveries; another tenant's answer NOT_FOUND, so
ids cannot be probed. Secrets are returned only by CreateEndpoint and RotateSecret and stored encrypted. An endpoint's
URL is checked when it is set (HTTPS, a public address) and its host's addresses again at every connection.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatcher.webhooks import domain
from dispatcher.webhooks import events as payloads
from dispatcher.webhooks import repository as repo
from dispatcher.webhooks.fanout import new_delivery_id
from dispatcher.webhooks.settings import WebhookSettings
from social_video.v1 import webhooks_pb2, webhooks_pb2_grpc
from svd import keys
from svd.cipher import SecretCipher
from svd.db import transaction
from svd.errors import FailedPrecondition, InvalidArgument, NotFound
from svd.grpc.auth import principal
from svd.ids import short_id
from svd.netguard import AddressRefused, Resolver, checked_addresses, system_resolver
from svd.timeutil import from_timestamp, to_timestamp, utcnow

MAX_PAGE = 200
DEFAULT_PAGE = 50
MAX_ENDPOINTS_PER_TENANT = 100
STATUSES = {
    webhooks_pb2.WEBHOOK_DELIVERY_STATUS_PENDING: "pending",
    webhooks_pb2.WEBHOOK_DELIVERY_STATUS_SUCCEEDED: "succeeded",
    webhooks_pb2.WEBHOOK_DELIVERY_STATUS_FAILED: "failed",
}
STATUS_VALUES = {name: value for value, name in STATUSES.items()}


def _limit(requested: int) -> int:
    return DEFAULT_PAGE if requested <= 0 else min(requested, MAX_PAGE)


def _token(created_at: datetime, key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created_at.isoformat(), key]).encode()).decode()


def _parse_token(token: str) -> tuple[datetime, str] | None:
    if not token:
        return None
    try:
        created, key = json.loads(base64.urlsafe_b64decode(token.encode()))
        return datetime.fromisoformat(created), str(key)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument("invalid page_token") from exc


def endpoint_message(row: Any) -> webhooks_pb2.WebhookEndpoint:
    message = webhooks_pb2.WebhookEndpoint(
        endpoint_id=row.endpoint_id,
        tenant_id=row.tenant_id,
        url=row.url,
        event_types=list(row.event_types or []),
        description=row.description,
        enabled=row.enabled,
        disabled_reason=row.disabled_reason,
        created_at=to_timestamp(row.created_at),
        updated_at=to_timestamp(row.updated_at),
    )
    if row.previous_secret_expires_at is not None and row.previous_secret_expires_at > utcnow():
        message.previous_secret_expires_at.CopyFrom(to_timestamp(row.previous_secret_expires_at))
    if row.failing_since is not None:
        message.failing_since.CopyFrom(to_timestamp(row.failing_since))
    return message


def delivery_message(row: Any, attempts: list[Any]) -> webhooks_pb2.WebhookDelivery:
    message = webhooks_pb2.WebhookDelivery(
        delivery_id=row.delivery_id,
        endpoint_id=row.endpoint_id,
        tenant_id=row.tenant_id,
        event_type=row.event_type,
        job_id=row.job_id,
        status=STATUS_VALUES.get(row.status, webhooks_pb2.WEBHOOK_DELIVERY_STATUS_UNSPECIFIED),  # type: ignore[arg-type]
        created_at=to_timestamp(row.created_at),
        payload=row.payload,
        attempts=[
            webhooks_pb2.WebhookAttempt(
                number=a.number,
                time=to_timestamp(a.at),
                http_status=a.http_status,
                latency_seconds=a.latency_s,
                error=a.error,
                response_excerpt=a.response_excerpt,
            )
            for a in attempts
        ],
    )
    if row.status == "pending":
        message.next_attempt_at.CopyFrom(to_timestamp(row.next_attempt_at))
    return message


class WebhooksServicer(webhooks_pb2_grpc.WebhooksServicer):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        cipher: SecretCipher | None,
        settings: WebhookSettings,
        wake: Callable[[], None] = lambda: None,
        resolve: Resolver = system_resolver,
    ) -> None:
        self._sessions = sessions
        self._cipher = cipher
        self._allow_private = settings.webhooks_allow_private
        self._overlap = timedelta(seconds=settings.webhook_secret_overlap_s)
        self._wake = wake
        self._resolve = resolve

    def _encrypt(self, secret: str) -> bytes:
        if self._cipher is None:
            raise FailedPrecondition("webhooks are not configured: WEBHOOK_SECRET_ENCRYPTION_KEY is not set")
        return self._cipher.encrypt(secret)

    async def _checked_url(self, url: str) -> str:
        """The URL, once its scheme, host and every address its host resolves to are acceptable."""
        url = url.strip()
        host, port = domain.check_url(url, self._allow_private)
        try:
            await checked_addresses(host, port, domain.address_policy(self._allow_private), self._resolve)
        except AddressRefused as exc:
            raise InvalidArgument(exc.message) from exc
        return url

    async def _visible_endpoint(self, session: AsyncSession, endpoint_id: str, *, lock: bool = False) -> Any:
        row = await repo.endpoint(session, endpoint_id, lock=lock) if endpoint_id else None
        if row is None or not principal().can_see(row.tenant_id):
            raise NotFound(f"webhook endpoint {endpoint_id} not found")
        return row

    async def CreateEndpoint(
        self, request: webhooks_pb2.CreateEndpointRequest, context: Any
    ) -> webhooks_pb2.CreateEndpointResponse:
        principal().require_tenant(request.tenant_id, "tenant")
        if not keys.is_safe_segment(request.tenant_id):
            raise InvalidArgument(f"tenant_id must be {keys.ID_RULE}")
        if len(request.description) > domain.MAX_DESCRIPTION:
            raise InvalidArgument(f"description is longer than {domain.MAX_DESCRIPTION} characters")
        types = domain.check_event_types(list(request.event_types))
        url = await self._checked_url(request.url)
        secret = domain.new_secret()
        ciphertext = self._encrypt(secret)
        async with transaction(self._sessions) as session:
            existing = await repo.list_endpoints(session, request.tenant_id, MAX_ENDPOINTS_PER_TENANT, None)
            if len(existing) >= MAX_ENDPOINTS_PER_TENANT:
                raise FailedPrecondition(f"a tenant has at most {MAX_ENDPOINTS_PER_TENANT} webhook endpoints")
            row = await repo.insert_endpoint(
                session,
                {
                    "endpoint_id": f"ep_{short_id(20)}",
                    "tenant_id": request.tenant_id,
                    "url": url,
                    "event_types": types,
                    "description": request.description,
                    "secret": ciphertext,
                },
            )
        return webhooks_pb2.CreateEndpointResponse(endpoint=endpoint_message(row), secret=secret)

    async def ListEndpoints(
        self, request: webhooks_pb2.ListEndpointsRequest, context: Any
    ) -> webhooks_pb2.ListEndpointsResponse:
        tenant = principal().scope_tenant(request.tenant_id)
        limit = _limit(request.limit)
        async with self._sessions() as session:
            rows = await repo.list_endpoints(session, tenant, limit, _parse_token(request.page_token))
        token = _token(rows[-1].created_at, rows[-1].endpoint_id) if len(rows) == limit else ""
        return webhooks_pb2.ListEndpointsResponse(endpoints=[endpoint_message(r) for r in rows], next_page_token=token)

    async def UpdateEndpoint(
        self, request: webhooks_pb2.UpdateEndpointRequest, context: Any
    ) -> webhooks_pb2.UpdateEndpointResponse:
        values: dict[str, Any] = {}
        if request.HasField("url"):
            values["url"] = await self._checked_url(request.url)
        if request.HasField("event_types"):
            values["event_types"] = domain.check_event_types(list(request.event_types.types))
        if request.HasField("description"):
            if len(request.description) > domain.MAX_DESCRIPTION:
                raise InvalidArgument(f"description is longer than {domain.MAX_DESCRIPTION} characters")
            values["description"] = request.description
        async with transaction(self._sessions) as session:
            row = await self._visible_endpoint(session, request.endpoint_id, lock=True)
            if request.HasField("enabled") and request.enabled != row.enabled:
                values["enabled"] = request.enabled
                # Enabled again: a fresh start (the failure streak that disabled it is over).
                values["disabled_reason"] = "" if request.enabled else "disabled by its tenant"
                values["failing_since"] = None
            row = await repo.update_endpoint(session, row.endpoint_id, **values) if values else row
        if values.get("enabled"):
            self._wake()
        return webhooks_pb2.UpdateEndpointResponse(endpoint=endpoint_message(row))

    async def DeleteEndpoint(
        self, request: webhooks_pb2.DeleteEndpointRequest, context: Any
    ) -> webhooks_pb2.DeleteEndpointResponse:
        async with transaction(self._sessions) as session:
            row = await self._visible_endpoint(session, request.endpoint_id, lock=True)
            await repo.delete_endpoint(session, row.endpoint_id)
        return webhooks_pb2.DeleteEndpointResponse()

    async def RotateSecret(
        self, request: webhooks_pb2.RotateSecretRequest, context: Any
    ) -> webhooks_pb2.RotateSecretResponse:
        secret = domain.new_secret()
        ciphertext = self._encrypt(secret)
        async with transaction(self._sessions) as session:
            row = await self._visible_endpoint(session, request.endpoint_id, lock=True)
            row = await repo.update_endpoint(
                session,
                row.endpoint_id,
                secret=ciphertext,
                previous_secret=row.secret,
                previous_secret_expires_at=utcnow() + self._overlap,
            )
        return webhooks_pb2.RotateSecretResponse(endpoint=endpoint_message(row), secret=secret)

    async def ListDeliveries(
        self, request: webhooks_pb2.ListDeliveriesRequest, context: Any
    ) -> webhooks_pb2.ListDeliveriesResponse:
        tenant = principal().scope_tenant(request.tenant_id)
        limit = _limit(request.limit)
        async with self._sessions() as session:
            if request.endpoint_id:
                await self._visible_endpoint(session, request.endpoint_id)
            rows = await repo.list_deliveries(
                session,
                tenant,
                request.endpoint_id,
                request.job_id,
                STATUSES.get(request.status, ""),
                from_timestamp(request.start_time) if request.HasField("start_time") else None,
                from_timestamp(request.end_time) if request.HasField("end_time") else None,
                limit,
                _parse_token(request.page_token),
            )
            attempts = await repo.attempts_of(session, [r.delivery_id for r in rows]) if rows else {}
        token = _token(rows[-1].created_at, rows[-1].delivery_id) if len(rows) == limit else ""
        return webhooks_pb2.ListDeliveriesResponse(
            deliveries=[delivery_message(r, attempts.get(r.delivery_id, [])) for r in rows], next_page_token=token
        )

    async def Redeliver(self, request: webhooks_pb2.RedeliverRequest, context: Any) -> webhooks_pb2.RedeliverResponse:
        async with transaction(self._sessions) as session:
            row = await repo.delivery(session, request.delivery_id, lock=True) if request.delivery_id else None
            if row is None or not principal().can_see(row.tenant_id):
                raise NotFound(f"delivery {request.delivery_id} not found")
            if row.status == "pending":
                raise FailedPrecondition(f"delivery {row.delivery_id} is still pending; it will be tried again")
            row = await repo.requeue(session, row.delivery_id, utcnow())
            attempts = await repo.attempts_of(session, [row.delivery_id])
        self._wake()
        return webhooks_pb2.RedeliverResponse(delivery=delivery_message(row, attempts.get(row.delivery_id, [])))

    async def SendTest(self, request: webhooks_pb2.SendTestRequest, context: Any) -> webhooks_pb2.SendTestResponse:
        async with transaction(self._sessions) as session:
            endpoint = await self._visible_endpoint(session, request.endpoint_id)
            if not endpoint.enabled:
                raise FailedPrecondition(f"webhook endpoint {endpoint.endpoint_id} is disabled")
            now = utcnow()
            event = await repo.insert_event(
                session,
                {
                    "tenant_id": endpoint.tenant_id,
                    "type": domain.TEST,
                    "occurred_at": now,
                    "snapshot": {"endpoint_id": endpoint.endpoint_id},
                    "endpoint_id": endpoint.endpoint_id,
                    "available_at": now,
                    "fanned_at": now,
                },
            )
            delivery_id = new_delivery_id()
            row = {
                "delivery_id": delivery_id,
                "event_id": event.event_id,
                "endpoint_id": endpoint.endpoint_id,
                "tenant_id": endpoint.tenant_id,
                "job_id": "",
                "event_type": domain.TEST,
                "payload": payloads.render(domain.TEST, now, event.snapshot, delivery_id),
                "trace_id": "",
                "occurred_at": now,
            }
            await repo.insert_deliveries(session, [row], now)
            delivery = await repo.delivery(session, delivery_id)
        self._wake()
        return webhooks_pb2.SendTestResponse(delivery=delivery_message(delivery, []))
