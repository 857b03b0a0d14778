"""OpenAI and Azure OpenAI image generation through the ``openai`` library (``images.generate``, base64 result).

One adapter for both: :class:`openai.AsyncOpenAI` (``/v1/images/generations``) and
:class:`openai.AsyncAzureOpenAI` (``/openai/deployments/{deployment}/images/generations``) share the
``images`` resource and the exception types.

Retries are the client's own (``max_retries``): it retries exactly the transient failures —
connection errors, timeouts, 408, 409, 429 and 5xx — with exponential backoff and jitter, honours the
server's ``retry-after-ms`` / ``Retry-After`` (up to two minutes) and ``x-should-retry``, and never retries
a 400 such as a content-policy refusal.  A tenacity loop around it would duplicate that classification
and lose the server-directed delays.  What is left after the last retry is translated here:
a refusal -> :class:`ImageRefused`, still-transient -> :class:`ImageProviderUnavailable`, anything
else -> :class:`ImageProviderError`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import logging
from typing import Any

import openai
from PIL import Image

from still_frame.images.base import ImageProviderError, ImageProviderUnavailable, ImageRefused, ImageRequest

log = logging.getLogger(__name__)

REFUSAL_CODES = frozenset({"content_policy_violation", "moderation_blocked"})
TRANSIENT_STATUSES = frozenset({408, 409, 429})  # and every 5xx: what the client retries


def request_size(width: int, height: int) -> str:
    """The GPT Image size closest in shape to the frame: portrait 1024x1536 for 9:16, square for 1:1."""
    ratio = width / height
    if ratio < 0.85:
        return "1024x1536"
    if ratio > 1.18:
        return "1536x1024"
    return "1024x1024"


def _decode(provider: str, b64: str | None) -> Image.Image:
    if not b64:
        raise ImageProviderError(provider, f"{provider} returned no image data")
    try:
        image = Image.open(io.BytesIO(base64.b64decode(b64, validate=True)))
        image.load()
    except (binascii.Error, ValueError, OSError) as exc:
        raise ImageProviderError(provider, f"{provider} returned an undecodable image: {exc}") from exc
    return image


class OpenAIImages:
    """Generate with ``client.images.generate(model=..., size=..., n=1)``; ``b64_json`` is decoded with Pillow."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        *,
        name: str,
        model: str,
        quality: str = "medium",
        gpt_image: bool | None = None,
    ) -> None:
        self._client = client
        self.name = name
        self.model = model  # on Azure: the deployment name
        self.quality = quality
        self.gpt_image = model.startswith("gpt-image") if gpt_image is None else gpt_image

    @property
    def attempts(self) -> int:
        return self._client.max_retries + 1

    async def generate(self, request: ImageRequest) -> Image.Image:
        size = request_size(request.width, request.height)
        extra: dict[str, Any] = {}
        if self.gpt_image:
            extra["quality"] = self.quality  # GPT Image models always answer b64_json
        else:
            extra["response_format"] = "b64_json"  # dall-e models default to URLs
        try:
            result = await self._client.images.generate(
                model=self.model, prompt=request.prompt, size=size, n=1, **extra
            )
        except openai.APIStatusError as exc:
            raise self._translate(exc) from exc
        except openai.APITimeoutError as exc:
            raise ImageProviderUnavailable(self.name, f"{self.name} timed out on all {self.attempts} attempts") from exc
        except openai.APIConnectionError as exc:
            raise ImageProviderUnavailable(
                self.name, f"{self.name} unreachable after {self.attempts} attempts: {exc.message}"
            ) from exc
        data = result.data or []
        image = await asyncio.to_thread(_decode, self.name, data[0].b64_json if data else None)
        log.info("%s generated a %s image with %s", self.name, "x".join(map(str, image.size)), self.model)
        return image

    def _translate(self, exc: openai.APIStatusError) -> ImageProviderError:
        status = exc.status_code
        body = exc.body if isinstance(exc.body, dict) else {}
        detail = str(body.get("message") or exc.message)
        if status == 400 and exc.code in REFUSAL_CODES:
            return ImageRefused(self.name, detail, exc.code)
        if status in TRANSIENT_STATUSES or status >= 500:
            reason = "rate limited (HTTP 429)" if status == 429 else f"HTTP {status}"
            return ImageProviderUnavailable(
                self.name, f"{self.name} still failing after {self.attempts} attempts: {reason}"
            )
        return ImageProviderError(self.name, f"{self.name} rejected the request (HTTP {status}): {detail}")

    async def aclose(self) -> None:
        await self._client.close()
