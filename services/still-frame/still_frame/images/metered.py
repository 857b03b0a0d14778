"""An image provider that records each call's latency and, when it fails, its error kind (refused, unavailable,
rejected); the local renderer is measured like a provider (`local`), so the image step's cost shows either way."""

from __future__ import annotations

import time

from PIL import Image

from still_frame.images.base import (
    ImageProvider,
    ImageProviderError,
    ImageProviderUnavailable,
    ImageRefused,
    ImageRequest,
)
from svd.telemetry import metrics


def error_kind(exc: Exception) -> str:
    if isinstance(exc, ImageRefused):
        return "refused"
    if isinstance(exc, ImageProviderUnavailable):
        return "unavailable"
    if isinstance(exc, ImageProviderError):
        return "rejected"
    return "unexpected"


class MeteredImages:
    """Wraps one image provider; same protocol, same errors."""

    def __init__(self, provider: ImageProvider) -> None:
        self._provider = provider
        self.name = provider.name

    async def generate(self, request: ImageRequest) -> Image.Image:
        started = time.perf_counter()
        try:
            image = await self._provider.generate(request)
        except Exception as exc:
            metrics.provider_call(self.name, "image", time.perf_counter() - started, error_kind(exc))
            raise
        metrics.provider_call(self.name, "image", time.perf_counter() - started)
        return image

    async def aclose(self) -> None:
        await self._provider.aclose()
