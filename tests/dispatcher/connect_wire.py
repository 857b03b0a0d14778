"""Connect's wire, spoken by hand (httpx, HTTP/1.1, JSON) as a browser or `curl` speaks it: a unary call is a POST of
the request's JSON; a server stream is a POST of one enveloped message (flags byte, big-endian length, JSON) answered
by enveloped messages, the last one flagged end-of-stream with the error, if any."""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from google.protobuf import json_format
from google.protobuf.message import Message

M = TypeVar("M", bound=Message)
END_STREAM = 0x02


@dataclass
class ConnectFailure(Exception):
    status: int
    code: str
    message: str


def _headers(key: str | None, content_type: str) -> dict[str, str]:
    headers = {"content-type": content_type, "connect-protocol-version": "1"}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    return headers


async def unary(http: httpx.AsyncClient, key: str | None, path: str, body: dict[str, Any], reply: type[M]) -> M:
    """POST `body` to `/<package.Service>/<Method>`; the answer parsed strictly into `reply`."""
    response = await http.post(f"/{path}", json=body, headers=_headers(key, "application/json"))
    if response.status_code != 200:
        error = response.json()
        raise ConnectFailure(response.status_code, error.get("code", ""), error.get("message", ""))
    return json_format.Parse(response.text, reply())


def envelope(body: dict[str, Any], flags: int = 0) -> bytes:
    data = json.dumps(body).encode()
    return struct.pack(">BI", flags, len(data)) + data


async def server_stream(
    http: httpx.AsyncClient, key: str | None, path: str, body: dict[str, Any], reply: type[M]
) -> AsyncIterator[M]:
    """Each message of a server stream, parsed strictly into `reply`; its end-of-stream error raised."""
    headers = _headers(key, "application/connect+json")
    async with http.stream("POST", f"/{path}", content=envelope(body), headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        buffer = b""
        async for chunk in response.aiter_bytes():
            buffer += chunk
            while len(buffer) >= 5:
                flags, length = struct.unpack(">BI", buffer[:5])
                if len(buffer) < 5 + length:
                    break
                data, buffer = buffer[5 : 5 + length], buffer[5 + length :]
                if flags & END_STREAM:
                    error = json.loads(data).get("error")
                    if error:
                        raise ConnectFailure(200, error.get("code", ""), error.get("message", ""))
                    return
                yield json_format.Parse(data, reply())
