"""The proto3 JSON mapping of a message, as `json_format.MessageToDict` prints it with its default options, and a
Timestamp's RFC 3339 text, at a fraction of their cost (webhook bodies are rendered for every event).

`json_format` walks each message generically and converts timestamps through pure-Python datetime code; here each
message type's fields are looked up once and converted by a function chosen for the field. Fields are still the
ones `ListFields()` reports (presence as protobuf decides it). Anything this does not convert itself — maps,
32-bit floats, extensions, well-known types other than Timestamp — goes to `json_format`, so the result is always
the same as `MessageToDict(message)`.
"""

from __future__ import annotations

import base64
import functools
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

Convert = Callable[[Any], Any]
TIMESTAMP = "google.protobuf.Timestamp"
_EPOCH = datetime(1970, 1, 1)  # naive, as `Timestamp.ToJsonString` formats
_MIN_SECONDS = -62135596800  # 0001-01-01T00:00:00Z
_MAX_SECONDS = 253402300799  # 9999-12-31T23:59:59Z
_INT64 = frozenset({FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64})


def message_to_dict(message: Message) -> dict[str, Any]:
    """`json_format.MessageToDict(message)`."""
    fields = _fields(message.DESCRIPTOR)
    if fields is None:
        return json_format.MessageToDict(message)
    js: dict[str, Any] = {}
    for field, value in message.ListFields():
        entry = fields.get(field)
        if entry is None:  # an extension
            return json_format.MessageToDict(message)
        name, convert = entry
        js[name] = convert(value)
    return js


def rfc3339(seconds: int, nanos: int) -> str:
    """`Timestamp(seconds=seconds, nanos=nanos).ToJsonString()`: UTC, `Z`, and 0, 3, 6 or 9 fractional digits."""
    if not (_MIN_SECONDS <= seconds <= _MAX_SECONDS and 0 <= nanos < 1_000_000_000):
        from google.protobuf.timestamp_pb2 import Timestamp

        return Timestamp(seconds=seconds, nanos=nanos).ToJsonString()  # raises as json_format would
    text = (_EPOCH + timedelta(seconds=seconds)).isoformat()
    if nanos == 0:
        return text + "Z"
    if nanos % 1_000_000 == 0:
        return f"{text}.{nanos // 1_000_000:03d}Z"
    if nanos % 1_000 == 0:
        return f"{text}.{nanos // 1_000:06d}Z"
    return f"{text}.{nanos:09d}Z"


def datetime_text(value: datetime) -> str:
    """`to_timestamp(value).ToJsonString()` for an aware datetime (a naive one is taken as local time)."""
    value = value.astimezone(UTC)
    delta = value.replace(tzinfo=None) - _EPOCH
    return rfc3339(delta.days * 86400 + delta.seconds, delta.microseconds * 1000)


def _timestamp(value: Any) -> str:
    return rfc3339(value.seconds, value.nanos)


def _float(value: float) -> Any:
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    if math.isnan(value):
        return "NaN"
    return value


def _bytes(value: bytes) -> str:
    return base64.b64encode(value).decode("utf-8")


def _enum(field: FieldDescriptor) -> Convert | None:
    enum = field.enum_type
    if enum is None or enum.full_name == "google.protobuf.NullValue":
        return None
    names = {value.number: value.name for value in enum.values}
    closed = enum.is_closed

    def convert(value: int) -> Any:
        name = names.get(value)
        if name is None:
            if closed:
                raise json_format.SerializeToJsonError(
                    "Enum field contains an integer value which can not mapped to an enum value."
                )
            return value
        return name

    return convert


def _converter(field: FieldDescriptor) -> Convert | None:
    """How one value of `field` becomes JSON, or None when only json_format knows."""
    kind = field.cpp_type
    if kind == FieldDescriptor.CPPTYPE_MESSAGE:
        nested = field.message_type
        if nested is None or nested.GetOptions().map_entry:
            return None
        if nested.full_name == TIMESTAMP:
            return _timestamp
        if nested.full_name.startswith("google.protobuf."):
            return None
        return message_to_dict
    if kind == FieldDescriptor.CPPTYPE_ENUM:
        return _enum(field)
    if kind == FieldDescriptor.CPPTYPE_STRING:
        return _bytes if field.type == FieldDescriptor.TYPE_BYTES else str
    if kind == FieldDescriptor.CPPTYPE_BOOL:
        return bool
    if kind in _INT64:
        return str
    if kind == FieldDescriptor.CPPTYPE_DOUBLE:
        return _float
    if kind == FieldDescriptor.CPPTYPE_FLOAT:
        return None  # shortest-float formatting: json_format's
    return int


@functools.cache
def _fields(descriptor: Descriptor) -> dict[FieldDescriptor, tuple[str, Convert]] | None:
    """Each field's JSON name and converter, or None when the message needs json_format."""
    if descriptor.full_name.startswith("google.protobuf."):
        return None
    fields: dict[FieldDescriptor, tuple[str, Convert]] = {}
    for field in descriptor.fields:
        convert = _converter(field)
        if convert is None:
            return None
        if field.is_repeated:
            convert = functools.partial(_each, convert)
        fields[field] = (field.json_name, convert)
    return fields


def _each(convert: Convert, values: Any) -> list[Any]:
    return [convert(value) for value in values]
