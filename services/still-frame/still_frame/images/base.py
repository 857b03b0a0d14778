"""The image provider interface and the errors every adapter translates its library's exceptions into."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from PIL import Image

from still_frame.render import BrandStyle


@dataclass(frozen=True, slots=True)
class ImageRequest:
    """What to paint: the prompt, the output frame size (the image may differ; it is cover-cropped),
    the brand (for the local renderer) and a seed that makes a re-render of the same run identical."""

    prompt: str
    width: int
    height: int
    style: BrandStyle
    seed: str


class ImageProviderError(Exception):
    """The provider cannot produce this image (bad credentials, invalid request, unusable answer)."""

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(message)
        self.provider = provider
        self.message = message


class ImageRefused(ImageProviderError):
    """The provider's safety system refused the prompt (a content-policy refusal; retrying will not help)."""

    def __init__(self, provider: str, message: str, code: str) -> None:
        super().__init__(provider, message)
        self.code = code


class ImageProviderUnavailable(ImageProviderError):
    """Timeouts, 5xx or 429 persisted through every retry."""


class ImageProvider(Protocol):
    """Paints the background of a still."""

    name: str

    async def generate(self, request: ImageRequest) -> Image.Image: ...

    async def aclose(self) -> None: ...
