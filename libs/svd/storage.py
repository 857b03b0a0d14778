"""S3-compatible object storage (DigitalOcean Spaces in production) through aioboto3.

One `ObjectStore` per process, opened with `async with ObjectStore.open(settings)`. It offers small-object puts and
gets, presigned URLs and a streaming multipart upload whose memory use does not grow with the object size.
Storage errors are translated to domain errors at this boundary.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aioboto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from svd.errors import NotFound, Unavailable
from svd.settings import SpacesSettings

MIN_PART_SIZE = 5 * 1024 * 1024
PUBLIC_CACHE_CONTROL = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    content_type: str
    etag: str


class ObjectStore:
    """A bucket, with the operations the services need."""

    def __init__(self, client: Any, settings: SpacesSettings) -> None:
        self._s3 = client
        self._settings = settings
        self.bucket = settings.do_spaces_bucket

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: SpacesSettings) -> AsyncIterator[ObjectStore]:
        session = aioboto3.Session()
        config = Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 5, "mode": "adaptive"},
            max_pool_connections=32,
        )
        async with session.client(
            "s3",
            endpoint_url=settings.do_spaces_endpoint,
            region_name=settings.do_spaces_region,
            aws_access_key_id=settings.do_spaces_key,
            aws_secret_access_key=settings.do_spaces_secret,
            config=config,
        ) as client:
            yield cls(client, settings)

    def public_url(self, key: str) -> str:
        """The CDN URL when `DO_SPACES_CDN_URL` is set, else the bucket URL on the endpoint."""
        base = self._settings.do_spaces_cdn_url.rstrip("/")
        if base:
            return f"{base}/{key}"
        return f"{self._settings.do_spaces_endpoint.rstrip('/')}/{self.bucket}/{key}"

    async def put_bytes(self, key: str, data: bytes, content_type: str, *, public: bool = False) -> StoredObject:
        extra: dict[str, str] = {"ACL": "public-read", "CacheControl": PUBLIC_CACHE_CONTROL} if public else {}
        try:
            response = await self._s3.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, **extra
            )
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable(f"object store refused {key}: {exc}") from exc
        return StoredObject(key, len(data), content_type, str(response.get("ETag", "")).strip('"'))

    async def get_bytes(self, key: str) -> bytes:
        try:
            response = await self._s3.get_object(Bucket=self.bucket, Key=key)
            async with response["Body"] as body:
                return bytes(await body.read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise NotFound(f"object {key} not found") from exc
            raise Unavailable(f"object store failed reading {key}: {exc}") from exc
        except BotoCoreError as exc:
            raise Unavailable(f"object store failed reading {key}: {exc}") from exc

    async def head(self, key: str) -> StoredObject:
        try:
            response = await self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                raise NotFound(f"object {key} not found") from exc
            raise Unavailable(f"object store failed on {key}: {exc}") from exc
        return StoredObject(
            key, int(response["ContentLength"]), response.get("ContentType", ""), response.get("ETag", "").strip('"')
        )

    async def presigned_get(self, key: str, expires_s: int = 3600) -> str:
        url = await self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_s
        )
        return str(url)

    async def upload_stream(
        self,
        key: str,
        chunks: AsyncIterator[bytes],
        content_type: str,
        *,
        public: bool = False,
        part_size: int = 8 * 1024 * 1024,
        max_in_flight: int = 2,
    ) -> StoredObject:
        """Multipart-upload an async stream of chunks with at most `max_in_flight` parts in memory and in flight.

        The upload is aborted on any failure, so no orphaned parts are left behind.
        """
        part_size = max(part_size, MIN_PART_SIZE)
        extra: dict[str, str] = {"ACL": "public-read", "CacheControl": PUBLIC_CACHE_CONTROL} if public else {}
        try:
            created = await self._s3.create_multipart_upload(
                Bucket=self.bucket, Key=key, ContentType=content_type, **extra
            )
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable(f"object store refused upload of {key}: {exc}") from exc
        upload_id = created["UploadId"]
        parts: dict[int, str] = {}
        slots = asyncio.Semaphore(max_in_flight)
        tasks: set[asyncio.Task[None]] = set()
        total = 0

        async def send(number: int, body: bytes) -> None:
            try:
                response = await self._s3.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
                )
                parts[number] = response["ETag"]
            finally:
                slots.release()

        try:
            buffer = bytearray()
            number = 0
            async for chunk in chunks:
                buffer.extend(chunk)
                total += len(chunk)
                while len(buffer) >= part_size:
                    number += 1
                    body = bytes(buffer[:part_size])
                    del buffer[:part_size]
                    await slots.acquire()
                    tasks.add(asyncio.create_task(send(number, body)))
                    _raise_first_failure(tasks)
            if buffer or number == 0:
                number += 1
                await slots.acquire()
                tasks.add(asyncio.create_task(send(number, bytes(buffer))))
            await asyncio.gather(*tasks)
            completed = await self._s3.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": parts[n]} for n in sorted(parts)]},
            )
        except BaseException as exc:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._abort(key, upload_id)
            if isinstance(exc, (ClientError, BotoCoreError)):
                raise Unavailable(f"upload of {key} failed: {exc}") from exc
            raise
        return StoredObject(key, total, content_type, str(completed.get("ETag", "")).strip('"'))

    async def _abort(self, key: str, upload_id: str) -> None:
        try:
            await asyncio.shield(self._s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id))
        except (ClientError, BotoCoreError):
            pass

    async def list_multipart_uploads(self, prefix: str = "") -> list[dict[str, Any]]:
        response = await self._s3.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix)
        return list(response.get("Uploads", []))


def _raise_first_failure(tasks: set[asyncio.Task[None]]) -> None:
    for task in [t for t in tasks if t.done()]:
        tasks.discard(task)
        task.result()
