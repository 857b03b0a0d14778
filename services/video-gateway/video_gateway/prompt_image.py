"""How the still reaches the provider (pure): a presigned HTTPS URL it can fetch, or a data URI.

Providers fetch URLs from the internet, so only an HTTPS URL on a host name is usable (Runway refuses plain HTTP
and IP addresses); otherwise the image travels inline as a data URI, which Runway accepts up to 5 MB.
"""

from __future__ import annotations

import base64
import ipaddress
import mimetypes
from urllib.parse import urlsplit

from social_video.v1 import pipeline_pb2


def animated_key(event: pipeline_pb2.StillReady) -> str:
    """The image the provider animates: the clean brand image, or the composited still when there is none (the
    brand layer is baked in, or the message predates source images)."""
    return event.source_key or event.still_key


def fetchable(url: str) -> bool:
    """True when a provider on the internet could fetch `url`: HTTPS on a public host name."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "https" or not host or host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def use_data_uri(mode: str, presigned_url: str) -> bool:
    """Whether to send a data URI: always for `data_uri`, never for `url`, for `auto` when the URL is unusable."""
    if mode == "data_uri":
        return True
    if mode == "url":
        return False
    return not fetchable(presigned_url)


def content_type(key: str) -> str:
    guessed, _ = mimetypes.guess_type(key)
    return guessed if guessed and guessed.startswith("image/") else "image/png"


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def data_uri_size(raw_size: int, mime: str) -> int:
    """Length of the data URI of `raw_size` bytes (base64 grows by 4/3)."""
    return len(f"data:{mime};base64,") + 4 * ((raw_size + 2) // 3)
