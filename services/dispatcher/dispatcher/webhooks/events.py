"""Webhook payloads (pure): `{"type", "timestamp", "data"}` with `data` the proto3 JSON mapping of its message.

The outbox holds each change as its type and a snapshot of the row that changed (`jobs` or `posts`, as the database
trigger saw it when the change committed), so a payload says what was true then, however late it is sent. Jobs are
shown as GetJob shows them to their tenant (`WebhookJobData.job`, never the hold id); `job.succeeded` adds where
the video is. Bodies are compact JSON with sorted keys, rendered once per event and sent byte for byte on every
attempt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from google.protobuf.message import Message

from dispatcher.views import job_message
from dispatcher.webhooks.domain import POST_STATUS_CHANGED, TEST
from social_video.v1 import common_pb2 as c
from social_video.v1 import outbound_pb2, webhooks_pb2
from svd.enums import from_short_name
from svd.protojson import datetime_text, message_to_dict
from svd.timeutil import to_timestamp


@dataclass(frozen=True)
class Media:
    """Where a succeeded job's video is (filled in when its event is rendered)."""

    video_url: str = ""
    poster_url: str = ""
    size_bytes: int = 0


class Snapshot(SimpleNamespace):
    """A row as the trigger saw it. A column added by a later migration is missing from older snapshots: it reads as
    None (unset in the message), never as an error that would hold the outbox back."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return None


def row(snapshot: dict[str, Any]) -> Snapshot:
    """A row snapshot (`to_jsonb(NEW)`) with its timestamps as datetimes again."""
    values = dict(snapshot)
    for name, value in snapshot.items():
        if name.endswith("_at") and isinstance(value, str):
            values[name] = datetime.fromisoformat(value)
    return Snapshot(**values)


def body(event_type: str, at: datetime, data: Message) -> str:
    envelope = {
        "type": event_type,
        "timestamp": datetime_text(at),
        "data": message_to_dict(data),
    }
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True)


def job_data(snapshot: dict[str, Any], media: Media | None = None) -> webhooks_pb2.WebhookJobData:
    data = webhooks_pb2.WebhookJobData(job=job_message(row(snapshot), show_hold=False))
    if media is not None:
        data.video_url, data.poster_url, data.size_bytes = media.video_url, media.poster_url, media.size_bytes
    return data


def post_data(snapshot: dict[str, Any], event_id: str) -> outbound_pb2.PostStatusChanged:
    post = row(snapshot)
    event = outbound_pb2.PostStatusChanged(
        event_id=event_id,
        tenant_id=post.tenant_id,
        social_post_id=post.social_post_id,
        job_id=post.current_job_id or "",
        post_status=from_short_name(c.PostStatus, post.status),
        deliverable_status=from_short_name(c.DeliverableStatus, post.deliverable_status),
        reason=post.status_reason or "",
        media_id=post.media_id or "",
    )
    event.changed_at.CopyFrom(to_timestamp(post.updated_at))
    return event


def render(event_type: str, at: datetime, snapshot: dict[str, Any], event_id: str, media: Media | None = None) -> str:
    """The body of an outbox event."""
    if event_type == POST_STATUS_CHANGED:
        return body(event_type, at, post_data(snapshot, event_id))
    if event_type == TEST:
        return body(event_type, at, test_data(snapshot.get("endpoint_id", "")))
    return body(event_type, at, job_data(snapshot, media))


def test_data(endpoint_id: str) -> webhooks_pb2.WebhookTestData:
    return webhooks_pb2.WebhookTestData(endpoint_id=endpoint_id, message="A test event from Social Video Designer.")
