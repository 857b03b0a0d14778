"""Prompt-image sources: decode ``data:`` URIs and fetch http(s) URLs to bytes.

Blocking by design: it runs on a render worker thread, never on the event loop.
Proxy environment variables are ignored on purpose: the URLs are normally
presigned links to a local object store, which a proxy could not reach.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import urlsplit

import httpx

DATA_URI_RE = re.compile(r"^data:image/(png|jpeg|jpg|webp|gif);base64,", re.IGNORECASE)
_DATA_URI_PREVIEW = 48


class PromptImageError(Exception):
    """The prompt image could not be obtained (bad URI, fetch failure, too large)."""


def shorten(value: str) -> str:
    """A data URI reduced to its head, for logs and listings; anything else unchanged."""
    if value[:5].lower() == "data:" and len(value) > _DATA_URI_PREVIEW:
        return f"{value[:_DATA_URI_PREVIEW]}...({len(value)} chars)"
    return value


def is_http_url(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def decode_data_uri(uri: str, max_bytes: int) -> bytes:
    match = DATA_URI_RE.match(uri)
    if match is None:
        raise PromptImageError("data URI must look like data:image/<png|jpeg|webp|gif>;base64,...")
    payload = uri[match.end() :]
    # Cheap pre-check so a huge payload is rejected before decoding it.
    if len(payload) * 3 // 4 > max_bytes + 2:
        raise PromptImageError(f"data URI payload exceeds {max_bytes} bytes")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PromptImageError(f"data URI is not valid base64: {exc}") from exc
    if not data:
        raise PromptImageError("data URI payload is empty")
    if len(data) > max_bytes:
        raise PromptImageError(f"data URI payload exceeds {max_bytes} bytes")
    return data


def fetch_url(url: str, *, timeout_s: float, max_bytes: int) -> bytes:
    try:
        with (
            httpx.Client(timeout=timeout_s, follow_redirects=True, trust_env=False) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise PromptImageError(f"fetching promptImage returned HTTP {response.status_code}")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise PromptImageError(f"promptImage exceeds {max_bytes} bytes")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise PromptImageError(f"fetching promptImage failed: {exc!r}") from exc
    return b"".join(chunks)


def load_prompt_image(uri: str, *, timeout_s: float, max_bytes: int, max_data_uri_bytes: int) -> bytes:
    if uri[:5].lower() == "data:":
        return decode_data_uri(uri, max_data_uri_bytes)
    if is_http_url(uri):
        return fetch_url(uri, timeout_s=timeout_s, max_bytes=max_bytes)
    raise PromptImageError("promptImage must be an http(s) URL or a data URI")
