"""S3-compatible object storage (DigitalOcean Spaces in production) through aioboto3.

One `ObjectStore` per process, opened with `async with ObjectStore.open(settings)`. It offers small-object puts and
gets, ranged reads, presigned URLs and a streaming multipart upload whose memory use does not grow with the object
size. Objects are private unless a caller asks for `public=True` (the bucket's default ACL); clients read them through
time-limited presigned URLs, which can be served by the Spaces CDN (`DO_SPACES_CDN_URL`) without making anything
public. Throttling (`503 SlowDown`) and transient failures are retried twice over: botocore's own retry mode on every
call, and a jittered exponential backoff per part on top of it, so a storm longer than botocore's budget costs
time, not the upload. Storage errors are translated to domain errors at this boundary.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import aioboto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from svd.errors import FailedPrecondition, NotFound, Unavailable
from svd.settings import SpacesSettings

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10_000
PUBLIC_CACHE_CONTROL = "public, max-age=31536000, immutable"
# Error codes S3 and Spaces use for "slow down / try again"; any 5xx counts too.
TRANSIENT_CODES = frozenset(
    {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling", "ThrottlingException"}
)

T = TypeVar("T")


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    content_type: str
    etag: str


@dataclass(frozen=True)
class PendingUpload:
    """An unfinished multipart upload (its parts cost storage until completed or aborted)."""

    key: str
    upload_id: str
    initiated: datetime


def is_transient(exc: BaseException) -> bool:
    """A storage failure that may succeed when retried: throttling, 5xx, or a broken connection."""
    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return exc.response.get("Error", {}).get("Code") in TRANSIENT_CODES or status >= 500
    return isinstance(exc, BotoCoreError)


class ObjectStore:
    """A bucket, with the operations the services need."""

    def __init__(
        self, client: Any, settings: SpacesSettings, *, part_attempts: int = 4, cdn_signer: Any = None
    ) -> None:
        self._s3 = client
        self._settings = settings
        self._part_attempts = part_attempts
        # Signs virtual-hosted-style URLs (the only style the Spaces CDN accepts for presigned URLs).
        self._cdn_signer = cdn_signer
        self.bucket = settings.do_spaces_bucket

    @classmethod
    @asynccontextmanager
    async def open(
        cls, settings: SpacesSettings, *, max_attempts: int = 5, part_attempts: int = 4, pool_size: int = 32
    ) -> AsyncIterator[ObjectStore]:
        """`max_attempts`: botocore's retries per call (standard mode, backs off on SlowDown and 5xx);
        `part_attempts`: how often a multipart call is tried again after botocore gave up."""
        session = aioboto3.Session()
        config = Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": max_attempts, "mode": "standard"},
            max_pool_connections=pool_size,
        )
        credentials = {
            "endpoint_url": settings.do_spaces_endpoint,
            "region_name": settings.do_spaces_region,
            "aws_access_key_id": settings.do_spaces_key,
            "aws_secret_access_key": settings.do_spaces_secret,
        }
        async with AsyncExitStack() as stack:
            client = await stack.enter_async_context(session.client("s3", config=config, **credentials))
            cdn_signer = None
            if settings.do_spaces_cdn_url:
                # Presigning is local; this client never sends a request.
                signer_config = Config(s3={"addressing_style": "virtual"}, signature_version="s3v4")
                cdn_signer = await stack.enter_async_context(session.client("s3", config=signer_config, **credentials))
            yield cls(client, settings, part_attempts=part_attempts, cdn_signer=cdn_signer)

    def public_url(self, key: str) -> str:
        """The CDN URL when `DO_SPACES_CDN_URL` is set, else the bucket URL on the endpoint. It reads only objects
        stored with `public=True`; for anything else hand out `presigned_get`."""
        base = self._settings.do_spaces_cdn_url.rstrip("/")
        if base:
            return f"{base}/{key}"
        return f"{self._settings.do_spaces_endpoint.rstrip('/')}/{self.bucket}/{key}"

    async def put_bytes(self, key: str, data: bytes, content_type: str, *, public: bool = False) -> StoredObject:
        try:
            response = await self._retrying(
                lambda: self._s3.put_object(
                    Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, **_public_extra(public)
                )
            )
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable(f"object store refused {key}: {exc}") from exc
        return StoredObject(key, len(data), content_type, str(response.get("ETag", "")).strip('"'))

    async def put_conditional(self, key: str, data: bytes, content_type: str, *, if_match: str | None = None) -> str:
        """Compare-and-swap write of a small object: create `key` only if it does not exist (`if_match` None), or
        replace it only while its ETag is still `if_match`. Returns the new ETag; raises `FailedPrecondition` when
        another writer got there first. A retried attempt whose first try did land also fails its precondition, so
        callers that must know put something of their own in the body to recognise their write."""
        condition = {"IfMatch": f'"{if_match}"'} if if_match is not None else {"IfNoneMatch": "*"}
        try:
            response = await self._retrying(
                lambda: self._s3.put_object(
                    Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, **condition
                )
            )
        except ClientError as exc:
            # 412: the precondition failed; 409: a concurrent conditional write won; 404: the object to replace is gone.
            if _status(exc) in (404, 409, 412) or _code(exc) in {"PreconditionFailed", "ConditionalRequestConflict"}:
                raise FailedPrecondition(f"{key} was written by someone else") from exc
            raise Unavailable(f"object store refused {key}: {exc}") from exc
        except BotoCoreError as exc:
            raise Unavailable(f"object store refused {key}: {exc}") from exc
        return str(response.get("ETag", "")).strip('"')

    async def get_bytes(self, key: str) -> bytes:
        return (await self._read_versioned(key, {}))[0]

    async def get_versioned(self, key: str) -> tuple[bytes, str]:
        """The object's bytes and the ETag of that version (for a later `put_conditional(if_match=...)`)."""
        return await self._read_versioned(key, {})

    async def get_range(self, key: str, start: int, length: int) -> bytes:
        """`length` bytes from offset `start` (fewer at the end of the object)."""
        if length <= 0:
            return b""
        return await self._read(key, {"Range": f"bytes={start}-{start + length - 1}"})

    async def _read(self, key: str, extra: dict[str, str]) -> bytes:
        return (await self._read_versioned(key, extra))[0]

    async def _read_versioned(self, key: str, extra: dict[str, str]) -> tuple[bytes, str]:
        async def call() -> tuple[bytes, str]:
            response = await self._s3.get_object(Bucket=self.bucket, Key=key, **extra)
            async with response["Body"] as body:
                return bytes(await body.read()), str(response.get("ETag", "")).strip('"')

        try:
            return await self._retrying(call)
        except ClientError as exc:
            if _code(exc) in {"NoSuchKey", "404"}:
                raise NotFound(f"object {key} not found") from exc
            if _code(exc) == "InvalidRange":
                return b"", ""
            raise Unavailable(f"object store failed reading {key}: {exc}") from exc
        except BotoCoreError as exc:
            raise Unavailable(f"object store failed reading {key}: {exc}") from exc

    async def head(self, key: str) -> StoredObject:
        try:
            response = await self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in {"NoSuchKey", "404", "NotFound"}:
                raise NotFound(f"object {key} not found") from exc
            raise Unavailable(f"object store failed on {key}: {exc}") from exc
        except BotoCoreError as exc:
            raise Unavailable(f"object store failed on {key}: {exc}") from exc
        return StoredObject(
            key, int(response["ContentLength"]), response.get("ContentType", ""), response.get("ETag", "").strip('"')
        )

    async def copy(self, source: str, key: str) -> StoredObject:
        """Server-side copy of `source` (up to 5 GiB) to `key`, private, with its content type; no bytes pass here."""
        try:
            await self._retrying(
                lambda: self._s3.copy_object(
                    Bucket=self.bucket, Key=key, CopySource={"Bucket": self.bucket, "Key": source}
                )
            )
        except ClientError as exc:
            if _code(exc) in {"NoSuchKey", "404", "NotFound"}:
                raise NotFound(f"object {source} not found") from exc
            raise Unavailable(f"object store failed copying {source}: {exc}") from exc
        except BotoCoreError as exc:
            raise Unavailable(f"object store failed copying {source}: {exc}") from exc
        return await self.head(key)

    async def delete(self, key: str) -> None:
        """Remove one object (S3 answers success for a missing key, so this is idempotent)."""
        try:
            await self._retrying(lambda: self._s3.delete_object(Bucket=self.bucket, Key=key))
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable(f"object store failed deleting {key}: {exc}") from exc

    async def presigned_get(self, key: str, expires_s: int = 3600, *, via_cdn: bool = False) -> str:
        """A URL that reads `key` for `expires_s` seconds without credentials. With `via_cdn` and `DO_SPACES_CDN_URL`
        set, the URL goes through the CDN: signed virtual-hosted style for the origin, then the host swapped for the
        CDN's, which is how the Spaces CDN serves private objects (the signature covers the origin's host, which
        the CDN forwards)."""
        params = {"Bucket": self.bucket, "Key": key}
        if not (via_cdn and self._cdn_signer is not None):
            return str(await self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_s))
        origin_url = await self._cdn_signer.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_s)
        signed = urlsplit(str(origin_url))
        cdn = urlsplit(self._settings.do_spaces_cdn_url)
        return urlunsplit((cdn.scheme, cdn.netloc, cdn.path.rstrip("/") + signed.path, signed.query, ""))

    async def make_private(self, key: str) -> None:
        """Withdraw public read access from `key` (an object stored with `public=True`)."""
        try:
            await self._retrying(lambda: self._s3.put_object_acl(Bucket=self.bucket, Key=key, ACL="private"))
        except ClientError as exc:
            if _code(exc) in {"NoSuchKey", "404", "NotFound"}:
                raise NotFound(f"object {key} not found") from exc
            raise Unavailable(f"object store failed on {key}: {exc}") from exc
        except BotoCoreError as exc:
            raise Unavailable(f"object store failed on {key}: {exc}") from exc

    async def upload_stream(
        self,
        key: str,
        chunks: AsyncIterator[bytes],
        content_type: str,
        *,
        public: bool = False,
        part_size: int = 8 * 1024 * 1024,
        max_in_flight: int = 2,
        on_part: Callable[[int], Awaitable[None]] | None = None,
    ) -> StoredObject:
        """Multipart-upload an async stream of chunks with at most `max_in_flight` parts in memory and in flight.

        Chunks are gathered until a part is full and joined once a slot is free, so memory is at most about
        `(max_in_flight + 1) * part_size` (parts in flight, plus the next part's chunks while they are joined)
        whatever the object size. Each part is retried on throttling and
        transient errors; `on_part(bytes_sent_so_far)` is awaited after each part lands. The upload is aborted on
        any failure or cancellation, so no orphaned parts are left behind.
        """
        part_size = max(part_size, MIN_PART_SIZE)
        try:
            created = await self._retrying(
                lambda: self._s3.create_multipart_upload(
                    Bucket=self.bucket, Key=key, ContentType=content_type, **_public_extra(public)
                )
            )
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable(f"object store refused upload of {key}: {exc}") from exc
        upload_id = created["UploadId"]
        parts: dict[int, str] = {}
        slots = asyncio.Semaphore(max_in_flight)
        tasks: set[asyncio.Task[None]] = set()
        total = 0
        sent = 0
        numbered = 0

        async def send(number: int, part: io.BytesIO, size: int) -> None:
            nonlocal sent

            def attempt() -> Awaitable[dict[str, Any]]:
                part.seek(0)
                return self._s3.upload_part(  # type: ignore[no-any-return]
                    Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=part
                )

            try:
                response = await self._retrying(attempt)
                parts[number] = response["ETag"]
                sent += size
            finally:
                part.close()
                slots.release()
            if on_part is not None:
                await on_part(sent)

        async def submit(pending: list[bytes]) -> None:
            nonlocal numbered
            numbered += 1
            if numbered > MAX_PARTS:
                raise ValueError(f"{key}: more than {MAX_PARTS} parts; raise the part size")
            size = sum(len(chunk) for chunk in pending)
            # The part is a file object that alone owns its bytes: aiohttp then sends it in small pieces as the
            # socket drains (bytes would be handed whole to the transport, whose buffer would copy them), and
            # BytesIO shares rather than copies bytes nobody else references.
            await slots.acquire()  # first: while waiting, only the chunks are held, not a joined copy as well
            part = io.BytesIO(b"".join(pending))
            pending.clear()
            tasks.add(asyncio.create_task(send(numbered, part, size)))
            _raise_first_failure(tasks)

        try:
            pending: list[bytes] = []
            buffered = 0
            async for chunk in chunks:
                if not chunk:
                    continue
                pending.append(chunk)
                buffered += len(chunk)
                total += len(chunk)
                if buffered >= part_size:
                    await submit(pending)
                    buffered = 0
            if pending or numbered == 0:
                await submit(pending)
            await asyncio.gather(*tasks)
            _raise_first_failure(tasks)
            completed = await self._retrying(
                lambda: self._s3.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": [{"PartNumber": n, "ETag": parts[n]} for n in sorted(parts)]},
                )
            )
        except BaseException as exc:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._abort(key, upload_id)
            if isinstance(exc, (ClientError, BotoCoreError)):
                raise Unavailable(f"upload of {key} failed: {_describe(exc)}") from exc
            raise
        return StoredObject(key, total, content_type, str(completed.get("ETag", "")).strip('"'))

    async def _abort(self, key: str, upload_id: str) -> None:
        try:
            await asyncio.shield(
                self._retrying(lambda: self._s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id))
            )
        except (ClientError, BotoCoreError):
            pass  # left for `abort_uploads` (the next attempt on this key, or the start-up sweep)

    async def list_multipart_uploads(self, prefix: str = "") -> list[dict[str, Any]]:
        """Unfinished multipart uploads under `prefix` (every page), as S3 describes them."""
        uploads: list[dict[str, Any]] = []
        marker: dict[str, str] = {}
        while True:
            response = await self._s3.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix, **marker)
            uploads.extend(response.get("Uploads", []))
            if not response.get("IsTruncated"):
                return uploads
            marker = {"KeyMarker": response["NextKeyMarker"], "UploadIdMarker": response["NextUploadIdMarker"]}

    async def abort_uploads(
        self, prefix: str, *, exact: bool = False, older_than: timedelta | None = None
    ) -> list[PendingUpload]:
        """Abort unfinished uploads under `prefix` (only of key `prefix` when `exact`; only those initiated more
        than `older_than` ago when given): the parts a crashed process left behind. Returns what was aborted."""
        try:
            uploads = await self.list_multipart_uploads(prefix)
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable(f"object store failed listing uploads under {prefix}: {exc}") from exc
        cutoff = datetime.now(UTC) - older_than if older_than is not None else None
        aborted: list[PendingUpload] = []
        for upload in uploads:
            pending = PendingUpload(upload["Key"], upload["UploadId"], _aware(upload.get("Initiated")))
            if (exact and pending.key != prefix) or (cutoff is not None and pending.initiated > cutoff):
                continue
            await self._abort(pending.key, pending.upload_id)
            aborted.append(pending)
        return aborted

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._part_attempts),
            wait=wait_random_exponential(multiplier=0.5, max=10),
            retry=retry_if_exception(is_transient),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await call()
        raise AssertionError("unreachable")  # pragma: no cover


def _public_extra(public: bool) -> dict[str, str]:
    """What makes an object world-readable (and cacheable for a year by any CDN): only for content meant to be
    public forever, since neither can be revoked once served."""
    return {"ACL": "public-read", "CacheControl": PUBLIC_CACHE_CONTROL} if public else {}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')} ({exc.operation_name})".strip()
    return f"{type(exc).__name__}: {exc}"


def _aware(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _raise_first_failure(tasks: set[asyncio.Task[None]]) -> None:
    for task in [t for t in tasks if t.done()]:
        tasks.discard(task)
        task.result()
