"""Download → upload as one stream: provider URL chunks go to a multipart upload and a local spool file at once.

Memory stays bounded by the part size times parts in flight whatever the file size; the spool file (on disk) lets the
stored bytes be validated and probed without reading them back from the store.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from svd.errors import InvalidArgument
from svd.storage import ObjectStore, StoredObject


class DownloadError(Exception):
    def __init__(self, message: str, *, retryable: bool, expired: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.expired = expired


def check_source_url(url: str) -> None:
    """Only HTTPS, except plain HTTP to loopback (the local simulator in development)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme == "http" and loopback:
        return
    raise InvalidArgument(f"refusing to download from {parts.scheme}://{host}: only HTTPS is allowed")


async def stream_to_store(
    client: httpx.AsyncClient,
    url: str,
    store: ObjectStore,
    key: str,
    spool: Path,
    *,
    max_bytes: int,
    part_size: int,
    parts_in_flight: int,
) -> StoredObject:
    check_source_url(url)
    try:
        async with client.stream("GET", url) as response:
            if response.status_code in (401, 403, 410):
                raise DownloadError(
                    f"provider URL refused with HTTP {response.status_code} (expired?)", retryable=False, expired=True
                )
            if response.status_code >= 400:
                raise DownloadError(
                    f"download failed: HTTP {response.status_code}",
                    retryable=response.status_code >= 500 or response.status_code == 429,
                )
            declared = int(response.headers.get("content-length", "0") or 0)
            if declared > max_bytes:
                raise DownloadError(f"video is {declared} bytes, over the {max_bytes} limit", retryable=False)

            async def chunks() -> AsyncIterator[bytes]:
                received = 0
                with spool.open("wb") as out:
                    async for chunk in response.aiter_bytes(1024 * 1024):
                        received += len(chunk)
                        if received > max_bytes:
                            raise DownloadError(f"video exceeds the {max_bytes} byte limit", retryable=False)
                        out.write(chunk)
                        yield chunk
                if declared and received != declared:
                    raise DownloadError(f"truncated download: {received} of {declared} bytes", retryable=True)

            return await store.upload_stream(
                key, chunks(), "video/mp4", public=True, part_size=part_size, max_in_flight=parts_in_flight
            )
    except httpx.TransportError as exc:
        raise DownloadError(f"download failed: {type(exc).__name__}: {exc}", retryable=True) from exc
