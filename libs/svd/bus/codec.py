"""Encoding and decoding of bus messages: protobuf binary, or JSON in the canonical proto3 JSON mapping.

Upstream events may arrive in either form (the upstream router is a TypeScript app); pipeline events are protobuf
binary; events for the upstream app are proto3 JSON. A payload that cannot be decoded raises `UndecodableMessage`
with a reason fit for the dead-letter record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

M = TypeVar("M", bound=Message)


class UndecodableMessage(ValueError):
    """The payload is not a valid encoding of the expected message."""


def content_type_of(headers: Mapping[str, str] | None) -> str:
    """The media type of a message from its headers (parameters and case ignored)."""
    for name, value in (headers or {}).items():
        if name.lower() == "content-type":
            return value.split(";", 1)[0].strip().lower()
    return ""


def decode(payload: bytes, headers: Mapping[str, str] | None, message_type: type[M]) -> M:
    """Decode `payload` as `message_type`, choosing JSON or binary by the content type."""
    kind = content_type_of(headers)
    message = message_type()
    if kind == JSON or (not kind and payload[:1] == b"{"):
        try:
            json_format.Parse(payload.decode("utf-8"), message, ignore_unknown_fields=False)
        except (json_format.ParseError, UnicodeDecodeError) as exc:
            raise UndecodableMessage(f"invalid {message_type.DESCRIPTOR.full_name} JSON: {exc}") from exc
        return message
    try:
        message.ParseFromString(payload)
    except DecodeError as exc:
        raise UndecodableMessage(f"invalid {message_type.DESCRIPTOR.full_name} protobuf: {exc}") from exc
    return message


def encode_binary(message: Message) -> bytes:
    return message.SerializeToString(deterministic=True)


def encode_json(message: Message) -> bytes:
    """Canonical proto3 JSON (lowerCamelCase names, enum names, RFC 3339 timestamps)."""
    return json_format.MessageToJson(message, indent=None, sort_keys=True).encode("utf-8")
