"""Download → upload as one stream: the provider's bytes go straight from httpx into an S3 multipart upload.

Nothing is spooled: memory is bounded by the part size times the parts in flight whatever the file size. Before the
first part is sent, the first bytes must be an MP4 `ftyp` box, so an HTML error page or a wrong file never becomes
an object. A download that breaks (connection error, truncated body) resumes with `Range` inside the same upload
when the server supports it, otherwise the whole transfer restarts; every GET, first or resumed, spends one attempt
of a shared budget. Redirects are followed by hand so each hop passes the source guards (scheme, allowed host); the
addresses a host resolves to are checked by the client's transport when it connects (`pinning`), so what was
checked is what is connected to. An expired or revoked provider URL (401/403/410) is reported as such and never
retried. The object is private: clients read it through presigned URLs.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from media_store.guards import SourcePolicy, SourceRefused, check_url
from svd.storage import ObjectStore, StoredObject
from svd.telemetry import metrics

CHUNK_SIZE = 1024 * 1024
MAX_REDIRECTS = 5
EXPIRED_STATUSES = frozenset({401, 403, 410})
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class TransferError(Exception):
    """The download could not be completed; `retryable` says whether another attempt may succeed."""

    def __init__(self, message: str, *, retryable: bool, expired: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.expired = expired


class NotAnMp4(Exception):
    """The first bytes are not an ISO-BMFF `ftyp` box."""


def has_ftyp(head: bytes) -> bool:
    """An MP4 (ISO-BMFF) file starts with a box whose type is `ftyp`."""
    return len(head) >= 8 and head[4:8] == b"ftyp"


@dataclass
class Budget:
    """Download attempts shared by the first GET, every resumed GET and every restart; exponential backoff."""

    attempts: int
    base_delay_s: float = 1.0
    max_delay_s: float = 10.0
    used: int = 0

    def take(self) -> bool:
        if self.used >= self.attempts:
            return False
        self.used += 1
        return True

    @property
    def left(self) -> int:
        return self.attempts - self.used

    async def backoff(self) -> None:
        await asyncio.sleep(min(self.max_delay_s, self.base_delay_s * 2 ** max(0, self.used - 1)))


async def open_source(
    client: httpx.AsyncClient, url: str, policy: SourcePolicy, headers: dict[str, str]
) -> httpx.Response:
    """GET `url` as a stream, following redirects by hand with every hop checked; the caller closes it.

    `client` must connect through `pinning.guarded_transport`, which refuses private addresses at connect time."""
    for _ in range(MAX_REDIRECTS + 1):
        check_url(url, policy)
        response = await client.send(client.build_request("GET", url, headers=headers), stream=True)
        if not (response.is_redirect and "location" in response.headers):
            return response
        await response.aclose()
        url = str(response.url.join(response.headers["location"]))
    raise SourceRefused(f"refusing to download: more than {MAX_REDIRECTS} redirects")


async def _refusal(response: httpx.Response) -> TransferError:
    body = b""
    try:
        async for chunk in response.aiter_raw(512):
            body = chunk[:300]
            break
    except httpx.HTTPError:
        pass
    detail = body.decode("utf-8", "replace").strip()
    status = response.status_code
    suffix = f": {detail}" if detail else ""
    if status in EXPIRED_STATUSES:
        return TransferError(
            f"provider output URL expired or revoked (HTTP {status}{suffix}); fetch a fresh URL from the task",
            retryable=False,
            expired=True,
        )
    return TransferError(f"download failed: HTTP {status}{suffix}", retryable=status >= 500 or status == 429)


@dataclass
class SourceStream:
    """The provider's bytes as one async iterator, resumed with `Range` after a break when the server allows it."""

    client: httpx.AsyncClient
    url: str
    policy: SourcePolicy
    max_bytes: int
    budget: Budget
    received: int = 0
    total: int | None = None
    validator: str = ""
    resumable: bool = False
    _response: httpx.Response | None = field(default=None, repr=False)
    _bytes: AsyncIterator[bytes] | None = field(default=None, repr=False)

    async def _open(self) -> None:
        if not self.budget.take():
            raise TransferError("download failed: no attempts left", retryable=False)
        headers = {"Accept-Encoding": "identity"}
        if self.received:
            headers["Range"] = f"bytes={self.received}-"
            if self.validator:
                headers["If-Range"] = self.validator
        response = await open_source(self.client, self.url, self.policy, headers)
        try:
            if response.status_code >= 400:
                raise await _refusal(response)
            if self.received:
                match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
                if response.status_code != 206 or not match or int(match.group(1)) != self.received:
                    raise TransferError("download broke and the server cannot resume it", retryable=True)
            else:
                declared = response.headers.get("content-length")
                self.total = int(declared) if declared and declared.isdigit() else None
                if self.total is not None and self.total > self.max_bytes:
                    raise TransferError(
                        f"video is {self.total} bytes, over the {self.max_bytes} byte limit", retryable=False
                    )
                self.validator = response.headers.get("etag", "") or response.headers.get("last-modified", "")
                self.resumable = response.headers.get("accept-ranges", "").lower() == "bytes"
        except BaseException:
            await response.aclose()
            raise
        self._response = response
        self._bytes = response.aiter_bytes(CHUNK_SIZE)

    async def close(self) -> None:
        if self._response is not None:
            await self._response.aclose()
            self._response = None

    async def head(self, size: int = 12) -> bytes:
        """Open the stream and read at least `size` bytes (fewer only if the file is shorter)."""
        await self._open()
        assert self._bytes is not None
        head = b""
        while len(head) < size:
            chunk = await anext(self._bytes, b"")
            if not chunk:
                break
            self.received += len(chunk)
            head += chunk
        return head

    async def _chunks(self) -> AsyncIterator[bytes]:
        """Chunks from the current position to the end, reconnecting within the budget."""
        while True:
            assert self._bytes is not None
            try:
                async for chunk in self._bytes:
                    self.received += len(chunk)
                    if self.received > self.max_bytes:
                        raise TransferError(f"video exceeds the {self.max_bytes} byte limit", retryable=False)
                    yield chunk
                if self.total is not None and self.received < self.total:
                    raise httpx.RemoteProtocolError(f"body ended at {self.received} of {self.total} bytes")
                await self.close()
                return
            except httpx.TransportError as exc:
                await self.close()
                reason = f"download broke after {self.received} bytes: {type(exc).__name__}: {exc}"
                if not self.resumable or self.budget.left <= 0:
                    raise TransferError(reason, retryable=True) from exc
                await self.budget.backoff()
                await self._open()

    async def chunks_after(self, head: bytes) -> AsyncIterator[bytes]:
        """`head` (already read by `head()`), then the rest of the file."""
        try:
            yield head
            async for chunk in self._chunks():
                yield chunk
        finally:
            await self.close()


async def stream_to_store(
    client: httpx.AsyncClient,
    url: str,
    policy: SourcePolicy,
    store: ObjectStore,
    key: str,
    *,
    budget: Budget,
    max_bytes: int,
    part_size: int,
    parts_in_flight: int,
    on_part: Callable[[int], Awaitable[None]] | None = None,
) -> StoredObject:
    """One attempt at moving `url` into `key` (private, `video/mp4`); raises `TransferError`,
    `SourceRefused` or `NotAnMp4`. Transport errors while opening are retryable `TransferError`s."""
    source = SourceStream(client, url, policy, max_bytes, budget)
    try:
        head = await source.head()
        if not has_ftyp(head):
            raise NotAnMp4(f"not an MP4 file: the first bytes are not an ftyp box ({head[:16]!r})")
        stored = await store.upload_stream(
            key,
            source.chunks_after(head),
            "video/mp4",
            part_size=part_size,
            max_in_flight=parts_in_flight,
            on_part=on_part,
        )
        metrics.transfer_bytes.add(stored.size, {"direction": "upload"})
        return stored
    except httpx.TransportError as exc:
        reason = f"download broke after {source.received} bytes: {type(exc).__name__}: {exc}"
        raise TransferError(reason, retryable=True) from exc
    finally:
        metrics.transfer_bytes.add(source.received, {"direction": "download"})  # what came in, also on a failure
        await source.close()


async def transfer(
    client: httpx.AsyncClient,
    url: str,
    policy: SourcePolicy,
    store: ObjectStore,
    key: str,
    *,
    attempts: int,
    max_bytes: int,
    part_size: int,
    parts_in_flight: int,
    base_delay_s: float = 1.0,
    on_part: Callable[[int], Awaitable[None]] | None = None,
) -> StoredObject:
    """Move `url` into `key`, restarting the whole transfer (a fresh multipart upload) while attempts remain."""
    budget = Budget(attempts, base_delay_s=base_delay_s)
    while True:
        try:
            return await stream_to_store(
                client,
                url,
                policy,
                store,
                key,
                budget=budget,
                max_bytes=max_bytes,
                part_size=part_size,
                parts_in_flight=parts_in_flight,
                on_part=on_part,
            )
        except TransferError as exc:
            if not exc.retryable or budget.left <= 0:
                if exc.retryable:
                    exc.message = f"{exc.message} (gave up after {budget.used} attempts)"
                raise
            await budget.backoff()
