"""Bus codec: protobuf binary and proto3 JSON in, clear errors for anything else."""

from __future__ import annotations

import pytest

from social_video.v1 import common_pb2, upstream_pb2
from svd.bus import codec


def approval() -> upstream_pb2.CopyApproved:
    return upstream_pb2.CopyApproved(
        event_id="e1",
        tenant_id="t1",
        social_post_id="p1",
        platform=common_pb2.PLATFORM_TIKTOK,
        platform_format=common_pb2.PLATFORM_FORMAT_TIKTOK,
        duration_seconds=10,
    )


def test_binary_round_trip() -> None:
    message = approval()
    assert codec.decode(codec.encode_binary(message), {}, upstream_pb2.CopyApproved) == message


def test_json_in_the_canonical_mapping_is_accepted() -> None:
    payload = (
        b'{"eventId": "e1", "tenantId": "t1", "socialPostId": "p1", "platform": "PLATFORM_TIKTOK",'
        b' "platformFormat": "PLATFORM_FORMAT_TIKTOK", "durationSeconds": 10}'
    )
    decoded = codec.decode(payload, {"Content-Type": "application/json; charset=utf-8"}, upstream_pb2.CopyApproved)
    assert decoded == approval()
    assert decoded.HasField("duration_seconds")


def test_json_output_is_the_proto3_mapping() -> None:
    assert b'"platformFormat":"PLATFORM_FORMAT_TIKTOK"' in codec.encode_json(approval()).replace(b" ", b"")


@pytest.mark.parametrize(
    ("payload", "headers", "reason"),
    [
        (b'{"platform": "PLATFORM_MARS"}', {"content-type": "application/json"}, "PLATFORM_MARS"),
        (b'{"eventId": 5}', {"content-type": "application/json"}, "eventId"),
        (b'{"noSuchField": 1}', {"content-type": "application/json"}, "noSuchField"),
        (b"\xff\xfe not protobuf", {}, "protobuf"),
        (b'{"eventId": "e1"', {"content-type": "application/json"}, "JSON"),
    ],
)
def test_undecodable_payloads_say_why(payload: bytes, headers: dict[str, str], reason: str) -> None:
    with pytest.raises(codec.UndecodableMessage, match=reason):
        codec.decode(payload, headers, upstream_pb2.CopyApproved)
